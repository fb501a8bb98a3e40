//! QR codes in a message's images (quishing): a link a mail gateway cannot see as a link, for the
//! reader to open on a phone outside the company's protections. Images are decoded with `image`
//! (PNG, JPEG, GIF) and searched with `rqrr`; bounded in count, bytes and pixels.

use std::io::Cursor;

use mail_parser::{MimeHeaders, PartType};

use crate::normalize::eml::Message;

const MAX_IMAGES: usize = 8;
const MAX_BYTES: usize = 4 * 1024 * 1024;
const MAX_SIDE: u32 = 4096;

/// The `http(s)` URLs encoded by QR codes in the message's image parts.
pub fn urls_in_images(msg: &Message<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let images = msg
        .parts
        .iter()
        .filter(|p| {
            p.content_type()
                .is_some_and(|ct| ct.ctype().eq_ignore_ascii_case("image"))
                || matches!(p.body, PartType::Binary(_) | PartType::InlineBinary(_))
                    && looks_like_image(p.contents())
        })
        .take(MAX_IMAGES);
    for part in images {
        let data = part.contents();
        if data.len() > MAX_BYTES {
            continue;
        }
        for text in decode(data) {
            let t = text.trim();
            let lower = t.to_ascii_lowercase();
            if (lower.starts_with("http://") || lower.starts_with("https://"))
                && !out.iter().any(|u| u == t)
            {
                out.push(t.to_owned());
            }
        }
    }
    out
}

fn looks_like_image(data: &[u8]) -> bool {
    data.starts_with(b"\x89PNG") || data.starts_with(b"\xFF\xD8\xFF") || data.starts_with(b"GIF8")
}

/// The texts of the QR codes in one image; nothing when it is not an image we can read.
pub fn decode(data: &[u8]) -> Vec<String> {
    let Ok(reader) = image::ImageReader::new(Cursor::new(data)).with_guessed_format() else {
        return Vec::new();
    };
    let mut reader = reader;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(64 * 1024 * 1024);
    reader.limits(limits);
    let Ok(img) = reader.decode() else {
        return Vec::new();
    };
    let luma = img.to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(luma);
    prepared
        .detect_grids()
        .into_iter()
        .filter_map(|g| g.decode().ok().map(|(_, text)| text))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod tests {
    use super::*;

    /// A PNG of a QR code for `text`, drawn with the `qrcode` crate: 8 pixels a module, with the
    /// quiet zone.
    pub fn qr_png(text: &str) -> Vec<u8> {
        let code = qrcode::QrCode::new(text.as_bytes()).unwrap();
        let width = code.width();
        let colors = code.to_colors();
        let scale = 8u32;
        let quiet = 4u32;
        let side = (width as u32 + 2 * quiet) * scale;
        let img = image::GrayImage::from_fn(side, side, |x, y| {
            let (mx, my) = (x / scale, y / scale);
            let dark = mx >= quiet
                && my >= quiet
                && mx < quiet + width as u32
                && my < quiet + width as u32
                && colors[((my - quiet) as usize) * width + (mx - quiet) as usize]
                    == qrcode::Color::Dark;
            image::Luma([if dark { 0 } else { 255 }])
        });
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png
    }

    #[test]
    fn a_generated_qr_code_decodes_to_its_url() {
        let png = qr_png("https://login.example-verify.top/m?id=42");
        assert_eq!(
            decode(&png),
            vec!["https://login.example-verify.top/m?id=42"]
        );
    }

    #[test]
    fn an_image_without_a_code_and_bytes_that_are_no_image_decode_to_nothing() {
        let blank = image::GrayImage::from_pixel(64, 64, image::Luma([255]));
        let mut png = Vec::new();
        blank
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert!(decode(&png).is_empty());
        assert!(decode(b"\x89PNG not really").is_empty());
    }
}
