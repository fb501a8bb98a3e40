//! Language lures: what a message asks the reader to feel or do (sign in, pay, collect a parcel,
//! claim a prize or an inheritance, move crypto, meet someone, pay off a blackmailer, hurry), in
//! English, Portuguese and Spanish, with a few French, German, Dutch and Italian phrases.
//!
//! Phrases, not single words: "password" is in every IT mailing list, "verify your account" is
//! not. A lure is a feature of phishing, never the whole decision: the analysis weighs it with
//! what the sender, links and attachments show.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// What a lure plays on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lure {
    Credential,
    Payment,
    Delivery,
    Prize,
    AdvanceFee,
    Crypto,
    Romance,
    Extortion,
    Urgency,
    /// A greeting that does not know the reader ("Dear Customer", "Dear Email Owner").
    GenericGreeting,
    /// The offers of scam marketing: miracle cures and weight loss, gambling, adult content,
    /// get-rich schemes.
    ScamOffer,
}

impl Lure {
    pub fn as_str(self) -> &'static str {
        match self {
            Lure::Credential => "credential",
            Lure::Payment => "payment",
            Lure::Delivery => "delivery",
            Lure::Prize => "prize",
            Lure::AdvanceFee => "advance-fee",
            Lure::Crypto => "crypto",
            Lure::Romance => "romance",
            Lure::Extortion => "extortion",
            Lure::Urgency => "urgency",
            Lure::GenericGreeting => "generic greeting",
            Lure::ScamOffer => "scam offer",
        }
    }
}

const PHRASES: &[(Lure, &[&str])] = &[
    (
        Lure::Credential,
        &[
            // en
            "verify your account",
            "verify your identity",
            "confirm your identity",
            "confirm your account",
            "verify your email",
            "validate your account",
            "validate your email",
            "verify your info",
            "update your account",
            "update your information",
            "update your details",
            "update your payment",
            "update your billing",
            "account has been suspended",
            "account will be suspended",
            "account has been locked",
            "account has been limited",
            "account has been disabled",
            "account will be closed",
            "account will be deactivated",
            "account is on hold",
            "temporarily locked",
            "unusual sign-in",
            "unusual signin",
            "unusual sign in",
            "unusual activity",
            "suspicious activity",
            "suspicious login",
            "login attempt",
            "log in attempt",
            "sign-in attempt",
            "someone tried to",
            "password expires",
            "password will expire",
            "password has expired",
            "reset your password",
            "keep your password",
            "keep the same password",
            "mailbox is full",
            "mailbox quota",
            "storage is full",
            "storage quota",
            "re-activate your",
            "reactivate your",
            "restore your account",
            "restore access",
            "unlock your account",
            "secure your account",
            "action required",
            "your session has expired",
            "pending messages",
            "undelivered messages",
            "incoming messages",
            "messages are on hold",
            "shared a document with you",
            "shared a file with you",
            "sent you a document",
            "review the document",
            "view document",
            "access your document",
            "sign the document",
            "seed phrase",
            "recovery phrase",
            "secret recovery",
            "private key",
            // pt
            "verifique sua conta",
            "confirme sua identidade",
            "confirme seus dados",
            "atualize seus dados",
            "atualize o seu cadastro",
            "atualizar seus dados",
            "atualização cadastral",
            "conta foi bloqueada",
            "conta será bloqueada",
            "conta foi suspensa",
            "conta será suspensa",
            "acesso bloqueado",
            "acesso suspenso",
            "desbloqueie",
            "desbloquear",
            "regularize",
            "sua senha",
            "token de segurança",
            "chave de segurança",
            "internet banking",
            "dispositivo de segurança",
            // es
            "verifique su cuenta",
            "confirme su identidad",
            "actualice sus datos",
            "actualizar sus datos",
            "su cuenta ha sido suspendida",
            "su cuenta será suspendida",
            "cuenta bloqueada",
            "su cuenta ha sido bloqueada",
            "inicio de sesión",
            "restablecer su contraseña",
            "su contraseña",
            "banca en línea",
            // fr / de / nl / it
            "vérifier votre compte",
            "votre compte a été suspendu",
            "mettre à jour vos informations",
            "konto wurde gesperrt",
            "bestätigen sie ihre",
            "verifieer uw account",
            "uw account is geblokkeerd",
            "verifica il tuo account",
        ],
    ),
    (
        Lure::Payment,
        &[
            "invoice attached",
            "attached invoice",
            "outstanding invoice",
            "overdue invoice",
            "unpaid invoice",
            "payment overdue",
            "overdue payment",
            "payment is overdue",
            "payment failed",
            "payment declined",
            "payment was declined",
            "payment could not be processed",
            "unable to process your payment",
            "billing problem",
            "billing issue",
            "outstanding balance",
            "wire transfer",
            "bank transfer details",
            "remittance advice",
            "payment confirmation",
            "proof of payment",
            "refund of",
            "you are eligible for a refund",
            "tax refund",
            "subscription has expired",
            "subscription will be renewed",
            "auto-renewal",
            "renewal failed",
            "has been charged",
            "order confirmation",
            "purchase confirmation",
            // pt
            "boleto",
            "fatura em aberto",
            "fatura pendente",
            "pagamento pendente",
            "débito pendente",
            "restituição",
            "pendência",
            "pix",
            // es
            "factura pendiente",
            "pago pendiente",
            "pago rechazado",
            "transferencia bancaria",
            "reembolso",
            // fr / de / nl / it
            "facture impayée",
            "rechnung",
            "zahlung",
            "factuur",
            "betaling",
            "fattura",
        ],
    ),
    (
        Lure::Delivery,
        &[
            "package delivery",
            "parcel delivery",
            "delivery failed",
            "failed delivery",
            "delivery attempt",
            "unable to deliver",
            "could not be delivered",
            "your package",
            "your parcel",
            "your shipment",
            "shipment on hold",
            "shipment is on hold",
            "customs fee",
            "customs duties",
            "redelivery",
            "reschedule delivery",
            "tracking number",
            "delivery notification",
            "awaiting delivery",
            // pt
            "sua encomenda",
            "seu pacote",
            "entrega pendente",
            "tentativa de entrega",
            "taxa de entrega",
            "taxa alfandegária",
            "objeto retido",
            "rastreamento",
            // es
            "su paquete",
            "su envío",
            "entrega fallida",
            "intento de entrega",
            // fr / de / nl / it
            "votre colis",
            "ihr paket",
            "uw pakket",
            "il tuo pacco",
        ],
    ),
    (
        Lure::Prize,
        &[
            "casino",
            "no deposit",
            "deposit bonus",
            "lucky winner",
            "you are the lucky",
            "récompense",
            "recompensa",
            "you have won",
            "you've won",
            "claim your prize",
            "claim your reward",
            "claim your gift",
            "free gift",
            "your reward",
            "you have been selected",
            "you've been selected",
            "lucky day",
            "sweepstakes",
            "cash prize",
            "gift card",
            "free spins",
            "giveaway",
            // pt
            "parabéns",
            "você ganhou",
            "prêmio",
            "sorteio",
            "ganhador",
            "brinde",
            "resgate seu",
            // es
            "felicidades",
            "felicitaciones",
            "usted ha ganado",
            "has ganado",
            "premio",
            "ganador",
            "sorteo",
            // fr / de / nl / it
            "félicitations",
            "vous avez gagné",
            "gewonnen",
            "gefeliciteerd",
            "hai vinto",
        ],
    ),
    (
        Lure::AdvanceFee,
        &[
            "inheritance",
            "next of kin",
            "beneficiary",
            "late client",
            "deceased",
            "compensation fund",
            "unclaimed fund",
            "unclaimed funds",
            "funds transfer",
            "fund transfer",
            "transfer of funds",
            "atm card",
            "consignment",
            "diplomat",
            "barrister",
            "attorney at law",
            "million dollars",
            "million us dollars",
            "million usd",
            "business proposal",
            "business proposition",
            "investment proposal",
            "project funding",
            "mutual benefit",
            "strictly confidential",
            "confidential transaction",
            "reply urgently",
            "get back to me",
            "contact me for more",
            "contact me through",
            "your personal email",
            "your whatsapp",
            "dear friend",
            "dear beloved",
            "dear email owner",
            "dear beneficiary",
            "email owner",
            "your email was selected",
            "herança",
            "beneficiário",
            "doação",
            "proposta de negócio",
            "herencia",
            "beneficiario",
            "donación",
            "propuesta de negocio",
            "erbschaft",
            "foreign partner",
            "invest in your country",
            "transfer the funds",
            "the sum of",
            "herdei",
            "meus fundos",
            "conta bancária",
            "investidor estrangeiro",
            "sócio estrangeiro",
            "seu país",
            "mis fondos",
            "cuenta bancaria",
            "inversor extranjero",
            "su país",
            "restitution",
            "compensation payment",
            "payment has been approved",
        ],
    ),
    (
        Lure::Crypto,
        &[
            "bitcoin",
            "btc",
            "crypto wallet",
            "cryptocurrency",
            "crypto currency",
            "your wallet",
            "wallet address",
            "airdrop",
            "staking",
            "stake your",
            "withdraw your",
            "mining balance",
            "usdt",
            "ethereum",
            "xrp",
            "carteira",
            "criptomoeda",
            "billetera",
            "criptomoneda",
        ],
    ),
    (
        Lure::Romance,
        &[
            "hot russian",
            "hot women",
            "hot girls",
            "girls in your area",
            "adult dating",
            "looking for a lover",
            "looking for a man",
            "looking for a serious",
            "hot singles",
            "singles in your area",
            "would like to meet",
            "wants to meet",
            "sex dating",
            "dating site",
            "private message",
            "sexy",
            "horny",
            "nude",
            "my photos",
            "ukrainian women",
            "russian women",
            "russian ladies",
            "beautiful women",
            "my photo",
            "my photos",
            "my pictures",
            "my picture",
            "your age",
            "single woman",
            "beautiful woman",
            "looking for love",
            "find love",
            "hot girls",
            "girls in your area",
            "adult dating",
            "fotos",
            "minhas fotos",
            "mis fotos",
            "mulheres",
            "namoro",
            "encontro",
            "solteiras",
            "mujeres",
            "citas",
            "rencontre",
            "célibataires",
            "afspreken",
            "daten",
        ],
    ),
    (
        Lure::Extortion,
        &[
            "hacked you",
            "i'm hacked",
            "stolen your",
            "stolen you",
            "i hacked",
            "hacked your",
            "access to your device",
            "recorded you",
            "your browsing history",
            "adult website",
            "i have your password",
            "pay me",
            "send the bitcoin",
            "you have 48 hours",
        ],
    ),
    (
        Lure::Urgency,
        &[
            "urgent",
            "urgently",
            "immediately",
            "within 24 hours",
            "within 48 hours",
            "within 24h",
            "in 24 hours",
            "final notice",
            "final reminder",
            "last warning",
            "last chance",
            "act now",
            "expires today",
            "will be deleted",
            "will be terminated",
            "will be permanently",
            "as soon as possible",
            "asap",
            "limited time",
            "don't miss",
            "do not miss",
            "only today",
            "urgente",
            "imediatamente",
            "últimas horas",
            "último aviso",
            "prazo",
            "inmediatamente",
            "última oportunidad",
            "dringend",
            "sofort",
            "dringend",
            "onmiddellijk",
        ],
    ),
    (
        Lure::ScamOffer,
        &[
            // en
            "lose weight",
            "weight loss",
            "losing weight",
            "lost weight",
            "belly fat",
            "burn fat",
            "fat burning",
            "pounds in",
            "lbs in",
            "diet pill",
            "keto",
            "blood sugar",
            "diabetes",
            "joint pain",
            "erectile",
            "viagra",
            "cialis",
            "enlargement",
            "anti-aging",
            "wrinkles",
            "hair loss",
            "regrow",
            "miracle",
            "doctors hate",
            "this one trick",
            "weird trick",
            "casino",
            "free spins",
            "jackpot",
            "betting",
            "slots",
            "make money from home",
            "work from home",
            "passive income",
            "earn money online",
            "get rich",
            "financial freedom",
            "double your money",
            "guaranteed income",
            "trading bot",
            "adult content",
            "naked",
            "sexdate",
            "sex date",
            "horny singles",
            // pt
            "emagrecer",
            "perder peso",
            "queimar gordura",
            "ganhe dinheiro",
            "renda extra",
            "cassino",
            "apostas",
            "rodadas gratis",
            // es
            "bajar de peso",
            "perder peso",
            "quemar grasa",
            "gane dinero",
            "ingresos extra",
            "apuestas",
            "tiradas gratis",
            // nl / fr / de
            "afvallen",
            "gewicht verliezen",
            "spannende afspraak",
            "vaste relatie",
            "geld verdienen",
            "perdre du poids",
            "abnehmen",
            "gratis spins",
        ],
    ),
    (
        Lure::GenericGreeting,
        &[
            "dear customer",
            "dear user",
            "dear client",
            "dear member",
            "dear account holder",
            "dear valued customer",
            "dear sir/madam",
            "dear sir or madam",
            "dear email user",
            "dear mailbox user",
            "dear webmail user",
            "dear account owner",
            "hello user",
            "dear recipient",
            "prezado cliente",
            "caro cliente",
            "prezado(a)",
            "estimado cliente",
            "querido cliente",
            "cher client",
            "sehr geehrter kunde",
            "beste klant",
            "gentile cliente",
        ],
    ),
];

struct Matcher {
    ac: AhoCorasick,
    lures: Vec<Lure>,
    phrases: Vec<&'static str>,
}

/// Text as a filter-evading sender cannot vary it: compatibility-folded (styled and fullwidth
/// letters read as plain ones), accents and other combining marks dropped (`wállét` is `wallet`),
/// lower-case. Phrases and texts are compared in this form.
pub fn fold_text(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;
    text.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .collect::<String>()
        .to_lowercase()
}

static MATCHER: LazyLock<Matcher> = LazyLock::new(|| {
    let mut lures = Vec::new();
    let mut phrases = Vec::new();
    let mut folded = Vec::new();
    for (lure, list) in PHRASES {
        for p in *list {
            lures.push(*lure);
            phrases.push(*p);
            folded.push(fold_text(p));
        }
    }
    #[allow(clippy::expect_used)]
    let ac = AhoCorasickBuilder::new()
        .match_kind(MatchKind::LeftmostLongest)
        .build(&folded)
        .expect("the lure phrases are a valid automaton");
    Matcher { ac, lures, phrases }
});

/// One kind of lure in a text: the first phrase that showed it and how many distinct phrases did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub lure: Lure,
    pub phrase: &'static str,
    pub phrases: usize,
}

/// The lures in `text` (lower-case), each kind once, in [`Lure`] order.
pub fn find_all(text: &str) -> Vec<Found> {
    let m = &*MATCHER;
    let mut out: Vec<(Lure, Vec<&'static str>)> = Vec::new();
    for hit in m.ac.find_iter(text) {
        let before = text[..hit.start()].chars().next_back();
        let after = text[hit.end()..].chars().next();
        let edge = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        if !(edge(before) && edge(after)) {
            continue;
        }
        let lure = m.lures[hit.pattern().as_usize()];
        let phrase = m.phrases[hit.pattern().as_usize()];
        match out.iter_mut().find(|(l, _)| *l == lure) {
            Some((_, list)) if !list.contains(&phrase) => list.push(phrase),
            Some(_) => {}
            None => out.push((lure, vec![phrase])),
        }
    }
    out.sort_by_key(|(l, _)| *l);
    out.into_iter()
        .map(|(lure, list)| Found {
            lure,
            phrase: list[0],
            phrases: list.len(),
        })
        .collect()
}

/// A sum of money an advance-fee or prize lure dangles: six figures or more with a currency
/// (`$2,500,000.00`, `US$ 10.5 million`, `€1.000.000`, `4,5 milhões de dólares`), or a crypto amount
/// (`0.7495 BTC`). Returns the text as written.
pub fn money(text: &str) -> Option<String> {
    static RE: LazyLock<regex::Regex> = LazyLock::new(|| {
        #[allow(clippy::expect_used)]
        regex::Regex::new(concat!(
            r"(?i)(?:(?:us\s?\$|\$|usd|eur|€|£|gbp|r\$)\s?\d{1,3}(?:[.,\s]\d{3}){2,}(?:[.,]\d{2})?",
            r"|\d{1,3}(?:[.,]\d{3}){2,}(?:[.,]\d{2})?\s?(?:usd|us dollars|dollars|euros?|eur|€|\$|pounds|gbp)",
            r"|(?:us\s?\$|\$|usd|eur|€|£|r\$)?\s?\d+(?:[.,]\d+)?\s?(?:million|billion|milhoes|milhao|millones|millon|millions)\s(?:of\s|de\s)?(?:us\s|united states\s)?(?:dollars|usd|euros?|pounds|reais|dolares)",
            r"|\d+[.,]\d{3,8}[\s._]{0,2}(?:btc|bitcoin|eth|usdt)\b)"
        ))
        .expect("the money pattern compiles")
    });
    RE.find(text).map(|m| m.as_str().trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phrases_are_found_on_word_boundaries_in_three_languages() {
        let kinds = |t: &str| find_all(t).into_iter().map(|f| f.lure).collect::<Vec<_>>();
        assert_eq!(
            kinds("please verify your account within 24 hours"),
            vec![Lure::Credential, Lure::Urgency]
        );
        assert_eq!(
            kinds("atualize seus dados para evitar bloqueio"),
            vec![Lure::Credential]
        );
        assert_eq!(kinds("su paquete está retenido"), vec![Lure::Delivery]);
        // Near misses: a phrase inside a longer word, an everyday mention of a password.
        assert!(kinds("the unverify your accountant tool").is_empty());
        assert!(kinds("I changed the password of the test box").is_empty());
    }

    #[test]
    fn large_sums_and_crypto_amounts_are_money_small_ones_are_not() {
        assert_eq!(
            money("the sum of $2,500,000.00 only").as_deref(),
            Some("$2,500,000.00")
        );
        assert!(money("us$ 10.5 million dollars").is_some());
        assert!(money(&fold_text("4,5 milhões de dólares")).is_some());
        assert_eq!(money("balance 0.7495 btc").as_deref(), Some("0.7495 btc"));
        assert!(money("the invoice is $45.00").is_none());
        assert!(money("4.5 million users run linux").is_none());
    }
}
