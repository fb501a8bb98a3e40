//! Commonly impersonated organisations and their own mail and web domains, and the checks that
//! find a domain dressed up as one of them: brand names in a display name or text, lookalike
//! spellings (edit distance, confusable characters, digit-for-letter swaps, punycode) and brand
//! names embedded in the labels of an unrelated host (`paypal-login.example`,
//! `microsoft.login.example.top`).
//!
//! The table is written from public facts (each organisation's own sites); a brand is *legit*
//! for a domain when the domain's registrable part is one of the brand's domains, or its first
//! label is one of the brand's domain tokens under any public suffix (`amazon.co.uk`,
//! `santander.com.br`).

/// One organisation phishers dress up as.
pub struct Brand {
    /// How the analyst reads it.
    pub name: &'static str,
    /// Phrases that name the brand in a display name, subject or body (lower-case, matched on
    /// word boundaries).
    pub names: &'static [&'static str],
    /// Labels the brand registers under many suffixes; also what lookalikes imitate.
    pub tokens: &'static [&'static str],
    /// Further registrable domains of the brand's own mail and sites.
    pub domains: &'static [&'static str],
    /// The token is an everyday word (`chase`, `orange`): embedded in a host it weighs less.
    pub common_word: bool,
}

const fn b(
    name: &'static str,
    names: &'static [&'static str],
    tokens: &'static [&'static str],
    domains: &'static [&'static str],
) -> Brand {
    Brand {
        name,
        names,
        tokens,
        domains,
        common_word: false,
    }
}

impl Brand {
    /// The brand's token is an everyday word.
    const fn word(mut self) -> Self {
        self.common_word = true;
        self
    }
}

pub static BRANDS: &[Brand] = &[
    b(
        "Microsoft",
        &[
            "microsoft",
            "office 365",
            "office365",
            "microsoft 365",
            "onedrive",
            "sharepoint",
            "outlook web",
            "windows defender",
        ],
        &[
            "microsoft",
            "office365",
            "onedrive",
            "sharepoint",
            "outlook",
            "hotmail",
            "microsoftonline",
        ],
        &[
            "live.com",
            "office.com",
            "msn.com",
            "onmicrosoft.com",
            "azure.com",
            "skype.com",
            "xbox.com",
            "windows.com",
            "bing.com",
            "microsoft365.com",
            "sharepointonline.com",
            "msft.net",
            "microsoftstore.com",
            "windowsazure.com",
            "mcas.ms",
        ],
    ),
    b(
        "PayPal",
        &["paypal"],
        &["paypal"],
        &[
            "paypal-communication.com",
            "paypalobjects.com",
            "paypal-community.com",
            "venmo.com",
            "xoom.com",
            "braintreegateway.com",
            "paypal.me",
        ],
    ),
    b(
        "Apple",
        &[
            "apple id",
            "appleid",
            "icloud",
            "itunes",
            "apple pay",
            "apple support",
        ],
        &["apple", "appleid", "icloud", "itunes"],
        &["me.com", "mac.com", "apple.news"],
    ),
    b(
        "Amazon",
        &["amazon", "amazon prime", "prime video", "aws"],
        &["amazon", "amazonaws", "primevideo"],
        &[
            "amazonses.com",
            "amazon.com",
            "a2z.com",
            "awsapps.com",
            "aws.com",
            "amazontrust.com",
        ],
    ),
    b(
        "Netflix",
        &["netflix"],
        &["netflix"],
        &["nflxext.com", "nflximg.net", "nflxvideo.net"],
    ),
    b(
        "Google",
        &["google", "gmail", "google drive", "google docs", "youtube"],
        &["google", "gmail", "googlemail", "youtube"],
        &[
            "goo.gl",
            "googleusercontent.com",
            "googleapis.com",
            "withgoogle.com",
            "gstatic.com",
            "google.com",
        ],
    ),
    b(
        "Meta / Facebook",
        &[
            "facebook",
            "instagram",
            "whatsapp",
            "meta business",
            "meta for business",
            "messenger",
        ],
        &["facebook", "facebookmail", "instagram", "whatsapp"],
        &["meta.com", "fb.me", "fbcdn.net", "fb.com", "m.me", "wa.me"],
    ),
    b(
        "LinkedIn",
        &["linkedin"],
        &["linkedin"],
        &["licdn.com", "lnkd.in"],
    ),
    b(
        "DocuSign",
        &["docusign", "docu sign", "docsign"],
        &["docusign"],
        &["docusign.net"],
    ),
    b(
        "Dropbox",
        &["dropbox"],
        &["dropbox"],
        &["dropboxmail.com", "dropboxusercontent.com", "db.tt"],
    ),
    b(
        "Adobe",
        &["adobe", "adobe sign", "acrobat"],
        &["adobe", "adobesign", "echosign"],
        &["adobelogin.com", "adobe.io", "typekit.net"],
    ),
    b("WeTransfer", &["wetransfer"], &["wetransfer"], &["we.tl"]),
    b("DHL", &["dhl", "dhl express"], &["dhl"], &[]),
    b("FedEx", &["fedex"], &["fedex"], &[]),
    b(
        "UPS",
        &[
            "ups delivery",
            "ups shipment",
            "ups package",
            "ups my choice",
        ],
        &["ups"],
        &[],
    )
    .word(),
    b("USPS", &["usps", "postal service"], &["usps"], &[]),
    b("Correios", &["correios"], &["correios"], &[]),
    b("Royal Mail", &["royal mail"], &["royalmail"], &[]),
    b("Livelo", &["livelo"], &["livelo"], &[]),
    b(
        "Banco do Brasil",
        &["banco do brasil"],
        &["bancodobrasil"],
        &["bb.com.br"],
    ),
    b("Itaú", &["itaú", "itau"], &["itau"], &[]),
    b("Bradesco", &["bradesco"], &["bradesco"], &[]),
    b(
        "Caixa",
        &["caixa econômica", "caixa economica", "caixa tem"],
        &[],
        &["caixa.gov.br"],
    ),
    b("Nubank", &["nubank"], &["nubank"], &[]),
    b("Santander", &["santander"], &["santander"], &[]),
    b(
        "Mercado Livre / Mercado Pago",
        &[
            "mercado livre",
            "mercado libre",
            "mercado pago",
            "mercadopago",
        ],
        &["mercadolivre", "mercadolibre", "mercadopago"],
        &[],
    ),
    b("BBVA", &["bbva"], &["bbva"], &[]),
    b(
        "Chase",
        &["chase bank", "jpmorgan chase", "chase online"],
        &["chase", "jpmorgan"],
        &["chase.com", "jpmorganchase.com"],
    )
    .word(),
    b(
        "Wells Fargo",
        &["wells fargo"],
        &["wellsfargo"],
        &["wf.com"],
    ),
    b(
        "Bank of America",
        &["bank of america"],
        &["bankofamerica"],
        &["bofa.com"],
    ),
    b("Citibank", &["citibank"], &["citibank"], &["citi.com"]),
    b("HSBC", &["hsbc"], &["hsbc"], &[]),
    b(
        "American Express",
        &["american express", "amex"],
        &["americanexpress", "aexp"],
        &["amex.com"],
    ),
    b(
        "Visa",
        &["visa card", "verified by visa"],
        &[],
        &["visa.com"],
    ),
    b("Mastercard", &["mastercard"], &["mastercard"], &[]),
    b("Western Union", &["western union"], &["westernunion"], &[]),
    b("MoneyGram", &["moneygram"], &["moneygram"], &[]),
    b("Coinbase", &["coinbase"], &["coinbase"], &[]),
    b("Binance", &["binance"], &["binance"], &[]),
    b(
        "MetaMask",
        &["metamask"],
        &["metamask"],
        &["consensys.io", "consensys.net"],
    ),
    b(
        "Exodus",
        &["exodus wallet", "exodus support", "exodus team"],
        &["exodus"],
        &["exodus.io"],
    )
    .word(),
    b(
        "Trust Wallet",
        &["trust wallet", "trustwallet"],
        &["trustwallet"],
        &[],
    ),
    b(
        "Ledger",
        &["ledger live", "ledger wallet", "ledger support"],
        &["ledger"],
        &[],
    )
    .word(),
    b("Trezor", &["trezor"], &["trezor"], &["satoshilabs.com"]),
    b(
        "Blockchain.com",
        &["blockchain.com", "blockchain wallet"],
        &[],
        &["blockchain.com"],
    ),
    b("Kraken", &["kraken"], &[], &["kraken.com"]),
    b("Crypto.com", &["crypto.com"], &[], &["crypto.com"]),
    b(
        "Ripple",
        &["ripple", "xrp ledger"],
        &[],
        &["ripple.com", "xrpl.org"],
    ),
    b(
        "Stellar",
        &["stellar.org", "stellar development foundation"],
        &[],
        &["stellar.org"],
    ),
    b(
        "Norton",
        &["norton", "norton 360", "lifelock"],
        &["norton", "lifelock"],
        &["nortonlifelock.com", "gen.digital"],
    ),
    b("McAfee", &["mcafee"], &["mcafee"], &[]),
    b(
        "Geek Squad",
        &["geek squad", "geeksquad"],
        &["geeksquad", "bestbuy"],
        &[],
    ),
    b("Spotify", &["spotify"], &["spotify"], &["scdn.co"]),
    b(
        "Steam",
        &["steam community", "steam support", "steampowered"],
        &["steampowered", "steamcommunity"],
        &["steamstatic.com"],
    )
    .word(),
    b(
        "Zoom",
        &["zoom meeting", "zoom video"],
        &[],
        &["zoom.us", "zoom.com", "zoomgov.com"],
    ),
    b("Yahoo", &["yahoo"], &["yahoo"], &["yimg.com", "aol.com"]),
    b(
        "eBay",
        &["ebay"],
        &["ebay"],
        &["ebayinc.com", "ebaystatic.com"],
    ),
    b("Walmart", &["walmart"], &["walmart"], &[]),
    b("Costco", &["costco"], &["costco"], &[]),
    b("Booking.com", &["booking.com"], &[], &["booking.com"]),
    b("Airbnb", &["airbnb"], &["airbnb"], &[]),
    b("AT&T", &["at&t"], &[], &["att.net", "att.com"]),
    b(
        "Verizon",
        &["verizon"],
        &["verizon", "verizonwireless"],
        &["vzw.com"],
    ),
    b(
        "Xfinity / Comcast",
        &["xfinity", "comcast"],
        &["xfinity", "comcast"],
        &["comcast.net"],
    ),
    b("Vodafone", &["vodafone"], &["vodafone"], &[]),
    b(
        "Internal Revenue Service",
        &["internal revenue service", "irs"],
        &["irs"],
        &["irs.gov"],
    ),
    b("Receita Federal", &["receita federal"], &[], &["gov.br"]),
    b(
        "FBI",
        &["fbi", "federal bureau of investigation"],
        &["fbi"],
        &["fbi.gov", "ic3.gov"],
    ),
    b("United Nations", &["united nations"], &[], &["un.org"]),
    b(
        "World Bank",
        &["world bank"],
        &["worldbank"],
        &["worldbank.org"],
    ),
    b(
        "International Monetary Fund",
        &["international monetary fund", "imf"],
        &["imf"],
        &["imf.org"],
    ),
    b(
        "Disney+",
        &["disney+", "disney plus"],
        &["disneyplus", "disney"],
        &["go.com"],
    ),
    b("HBO Max", &["hbo max"], &["hbomax"], &["max.com"]),
    b("Roblox", &["roblox"], &["roblox"], &[]),
    b("OpenSea", &["opensea"], &["opensea"], &[]),
    b("Samsung", &["samsung"], &["samsung"], &[]),
    b("Kaspersky", &["kaspersky"], &["kaspersky"], &[]),
    b("Avast", &["avast"], &["avast"], &[]),
    b(
        "Webmail",
        &[
            "webmail",
            "mail administrator",
            "email administrator",
            "mailbox administrator",
        ],
        &[],
        &[],
    ),
];

/// The registrable part of a host (`login.example.co.uk` → `example.co.uk`), lower-case; the host
/// itself when it has no public suffix.
pub fn registrable(host: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    psl::domain_str(&host).map_or(host.clone(), str::to_owned)
}

/// The first label of the registrable part (`example` of `login.example.co.uk`).
pub fn registrable_label(host: &str) -> String {
    let r = registrable(host);
    r.split('.').next().unwrap_or(&r).to_owned()
}

/// Whether `host` belongs to the brand.
pub fn is_legit(brand: &Brand, host: &str) -> bool {
    let reg = registrable(host);
    let label = reg.split('.').next().unwrap_or(&reg);
    brand
        .domains
        .iter()
        .any(|d| reg == *d || host.ends_with(&format!(".{d}")))
        || brand.tokens.contains(&label)
}

/// Whether `host` belongs to any brand named in the table (the sender is the organisation).
pub fn legit_brand(host: &str) -> Option<&'static Brand> {
    BRANDS.iter().find(|b| is_legit(b, host))
}

/// A brand named in `text` (lower-case) on word boundaries, with the phrase found.
pub fn named_in(text: &str) -> Option<(&'static Brand, &'static str)> {
    BRANDS.iter().find_map(|b| {
        b.names
            .iter()
            .find(|n| contains_word(text, n))
            .map(|n| (b, *n))
    })
}

/// A brand a display name (lower-case) speaks for: one of its names, or in a short name its bare
/// token (`Ledger Security`, `Exodus`).
pub fn named_in_display(name: &str) -> Option<(&'static Brand, &'static str)> {
    named_in(name).or_else(|| {
        (name.split_whitespace().count() <= 4)
            .then(|| {
                BRANDS.iter().find_map(|b| {
                    b.tokens
                        .iter()
                        .find(|t| t.len() >= 4 && contains_word(name, t))
                        .map(|t| (b, *t))
                })
            })
            .flatten()
    })
}

/// `needle` in `hay` with no letter or digit right before or after it.
pub fn contains_word(hay: &str, needle: &str) -> bool {
    let mut from = 0;
    while let Some(p) = hay.get(from..).and_then(|s| s.find(needle)) {
        let at = from + p;
        let end = at + needle.len();
        let before = hay[..at].chars().next_back();
        let after = hay[end..].chars().next();
        let edge = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        if edge(before) && edge(after) {
            return true;
        }
        from = at + needle.len().max(1);
        while !hay.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

/// How a host imitates a brand it does not belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookalike {
    /// Same letters once confusable characters and digit swaps are folded (`paypa1`, `rnicrosoft`).
    Confusable,
    /// One or two edits away (`paypall`, `netfllx`).
    Misspelt,
    /// The brand token is a label, or a hyphen-separated part of one, of an unrelated host.
    Embedded,
}

/// The brand `host` imitates, if any, and how.
pub fn lookalike(host: &str) -> Option<(&'static Brand, Lookalike)> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.parse::<std::net::IpAddr>().is_ok() || legit_brand(&host).is_some() {
        return None;
    }
    let shown = decode_punycode(&host);
    let label = registrable_label(&shown);
    let folded = fold(&label);
    for brand in BRANDS {
        for token in brand.tokens.iter().filter(|t| t.len() >= 5) {
            if folded == fold(token) && label != *token {
                return Some((brand, Lookalike::Confusable));
            }
            // Phishers keep the first letter (`paypa1`, `rnicrosoft` aside): requiring it keeps
            // ordinary words one letter from a brand (`finance`, `cooking`) out.
            let d = edit_distance(&label, token);
            let allowed = if token.len() >= 9 {
                2
            } else if token.len() >= 6 {
                1
            } else {
                0
            };
            if d > 0 && d <= allowed && label.chars().next() == token.chars().next() {
                return Some((brand, Lookalike::Misspelt));
            }
        }
    }
    // A part of a label spelt as a brand with look-alike characters (`micros0ft-alerts`).
    for brand in BRANDS {
        for token in brand.tokens.iter().filter(|t| t.len() >= 5) {
            let folded_token = fold(token);
            let hit = shown.split('.').flat_map(|l| l.split('-')).any(|part| {
                part != *token && part.len() == token.len() && fold(part) == folded_token
            });
            if hit {
                return Some((brand, Lookalike::Confusable));
            }
        }
    }
    for brand in BRANDS {
        let hit = brand.tokens.iter().filter(|t| t.len() >= 3).any(|token| {
            shown
                .split('.')
                .any(|l| l == *token || l.split('-').any(|part| part == *token))
                || (token.len() >= 7
                    && !brand.common_word
                    && shown.split(['.', '-']).any(|l| l.contains(token)))
        });
        if hit {
            return Some((brand, Lookalike::Embedded));
        }
    }
    None
}

/// A punycode host in Unicode (`xn--pypal-4ve.com` → `pаypal.com`), unchanged when it is not.
pub fn decode_punycode(host: &str) -> String {
    if !host.contains("xn--") {
        return host.to_owned();
    }
    let (unicode, result) = idna::domain_to_unicode(host);
    if result.is_ok() {
        unicode
    } else {
        host.to_owned()
    }
}

/// Folds confusable characters and digit-for-letter swaps to the ASCII letters they imitate.
pub fn fold(label: &str) -> String {
    let skeleton: String = unicode_security::skeleton(label).collect();
    let mut out = String::with_capacity(skeleton.len());
    for c in skeleton.to_lowercase().chars() {
        out.push(match c {
            '0' => 'o',
            '1' | '|' | 'i' => 'l',
            '3' => 'e',
            '4' | '@' => 'a',
            '5' | '$' => 's',
            '7' => 't',
            '8' => 'b',
            c => c,
        });
    }
    out.replace("rn", "m").replace("vv", "w").replace("cl", "d")
}

/// Levenshtein distance, bounded: stops counting past 3.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > 3 {
        return 4;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
