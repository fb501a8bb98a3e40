//! Sigma condition expressions: tokenizer and precedence-climbing parser.
//!
//! Grammar (least to most binding): `or`, `and`, `not`, `x of pattern`, `( … )`.
//! Search identifiers are resolved to indices at parse time, so evaluation is index-only.
//! `them` covers every identifier not starting with `_`; patterns use `*` wildcards.
//! Legacy pipe aggregations (`| count() by …`) and `near` are rejected.

/// A parsed condition over selection indices.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cond {
    Sel(u32),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    /// At least `n` of the listed selections match.
    AtLeast(u32, Vec<u32>),
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    LParen,
    RParen,
    And,
    Or,
    Not,
    Of,
    All,
    Them,
    Num(u32),
    Ident(String),
}

fn tokenize(s: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' {
            chars.next();
            out.push(Token::LParen);
        } else if c == ')' {
            chars.next();
            out.push(Token::RParen);
        } else if c == '|' {
            return Err(
                "legacy pipe aggregation in condition is not supported (use a correlation rule)"
                    .into(),
            );
        } else {
            let mut w = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '(' || c == ')' || c == '|' {
                    break;
                }
                w.push(c);
                chars.next();
            }
            out.push(match w.to_ascii_lowercase().as_str() {
                "and" => Token::And,
                "or" => Token::Or,
                "not" => Token::Not,
                "of" => Token::Of,
                "all" => Token::All,
                "them" => Token::Them,
                "near" => return Err("legacy 'near' operator is not supported".into()),
                _ => match w.parse::<u32>() {
                    Ok(n) => Token::Num(n),
                    Err(_) => Token::Ident(w),
                },
            });
        }
    }
    Ok(out)
}

/// `*`-only wildcard match for identifier patterns.
fn ident_glob(pat: &str, name: &str) -> bool {
    let parts: Vec<&str> = pat.split('*').collect();
    if parts.len() == 1 {
        return pat == name;
    }
    let mut rest = name;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(p) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.len() >= p.len() && rest.ends_with(p);
        } else if let Some(pos) = rest.find(p) {
            rest = &rest[pos + p.len()..];
        } else {
            return false;
        }
    }
    true
}

struct Parser<'a> {
    toks: Vec<Token>,
    pos: usize,
    names: &'a [String],
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or_expr(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.and_expr()?];
        while self.peek() == Some(&Token::Or) {
            self.pos += 1;
            items.push(self.and_expr()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Cond::Or(items)
        })
    }

    fn and_expr(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.not_expr()?];
        while self.peek() == Some(&Token::And) {
            self.pos += 1;
            items.push(self.not_expr()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Cond::And(items)
        })
    }

    fn not_expr(&mut self) -> Result<Cond, String> {
        if self.peek() == Some(&Token::Not) {
            self.pos += 1;
            return Ok(Cond::Not(Box::new(self.not_expr()?)));
        }
        self.primary()
    }

    fn selection_set(&mut self) -> Result<Vec<u32>, String> {
        match self.next() {
            Some(Token::Them) => {
                let v: Vec<u32> = (0..self.names.len() as u32)
                    .filter(|i| !self.names[*i as usize].starts_with('_'))
                    .collect();
                if v.is_empty() {
                    return Err("'them' matches no search identifier".into());
                }
                Ok(v)
            }
            Some(Token::Ident(p)) => {
                let v: Vec<u32> = (0..self.names.len() as u32)
                    .filter(|i| ident_glob(&p, &self.names[*i as usize]))
                    .collect();
                if v.is_empty() {
                    return Err(format!("pattern '{p}' matches no search identifier"));
                }
                Ok(v)
            }
            t => Err(format!(
                "expected identifier pattern or 'them' after 'of', got {t:?}"
            )),
        }
    }

    fn primary(&mut self) -> Result<Cond, String> {
        match self.next() {
            Some(Token::LParen) => {
                let e = self.or_expr()?;
                match self.next() {
                    Some(Token::RParen) => Ok(e),
                    t => Err(format!("expected ')', got {t:?}")),
                }
            }
            Some(Token::All) => {
                self.expect_of()?;
                Ok(Cond::And(
                    self.selection_set()?.into_iter().map(Cond::Sel).collect(),
                ))
            }
            Some(Token::Num(n)) => {
                self.expect_of()?;
                let set = self.selection_set()?;
                Ok(match n {
                    0 => return Err("'0 of' is not a valid quantifier".into()),
                    1 => Cond::Or(set.into_iter().map(Cond::Sel).collect()),
                    n => Cond::AtLeast(n, set),
                })
            }
            Some(Token::Ident(name)) => self
                .names
                .iter()
                .position(|n| *n == name)
                .map(|i| Cond::Sel(i as u32))
                .ok_or_else(|| format!("unknown search identifier '{name}' in condition")),
            t => Err(format!("unexpected token {t:?} in condition")),
        }
    }

    fn expect_of(&mut self) -> Result<(), String> {
        match self.next() {
            Some(Token::Of) => Ok(()),
            t => Err(format!("expected 'of', got {t:?}")),
        }
    }
}

/// Parses one condition string against the rule's search identifiers.
pub(crate) fn parse(expr: &str, names: &[String]) -> Result<Cond, String> {
    let toks = tokenize(expr)?;
    if toks.is_empty() {
        return Err("empty condition".into());
    }
    let mut p = Parser {
        toks,
        pos: 0,
        names,
    };
    let c = p.or_expr()?;
    if p.pos < p.toks.len() {
        return Err(format!(
            "trailing tokens in condition at {:?}",
            p.toks[p.pos]
        ));
    }
    Ok(c)
}

/// Evaluates a condition given a selection evaluator.
pub(crate) fn eval(c: &Cond, sel: &mut dyn FnMut(u32) -> bool) -> bool {
    match c {
        Cond::Sel(i) => sel(*i),
        Cond::Not(x) => !eval(x, sel),
        Cond::And(xs) => xs.iter().all(|x| eval(x, sel)),
        Cond::Or(xs) => xs.iter().any(|x| eval(x, sel)),
        Cond::AtLeast(n, xs) => {
            let mut hits = 0;
            for x in xs {
                if sel(*x) {
                    hits += 1;
                    if hits >= *n {
                        return true;
                    }
                }
            }
            false
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    fn run(expr: &str, n: &[&str], truth: &[bool]) -> bool {
        let c = parse(expr, &names(n)).unwrap();
        eval(&c, &mut |i| truth[i as usize])
    }

    #[test]
    fn precedence_not_and_or() {
        // a or b and not c  ==  a or (b and (not c))
        let n = ["a", "b", "c"];
        assert!(run("a or b and not c", &n, &[true, false, true]));
        assert!(run("a or b and not c", &n, &[false, true, false]));
        assert!(!run("a or b and not c", &n, &[false, true, true]));
        assert!(!run("(a or b) and not c", &n, &[true, false, true]));
        assert!(run("not a and b", &n, &[false, true, false]));
        assert!(!run("not (a or b)", &n, &[false, true, false]));
    }

    #[test]
    fn quantifiers() {
        let n = ["sel_a", "sel_b", "filter", "_hidden"];
        assert!(run("1 of sel_*", &n, &[false, true, false, false]));
        assert!(!run("all of sel_*", &n, &[false, true, false, false]));
        assert!(run("all of sel_*", &n, &[true, true, false, false]));
        assert!(run("2 of them", &n, &[true, false, true, false]));
        assert!(!run("2 of them", &n, &[true, false, false, true]));
        assert!(!run("1 of them", &n, &[false, false, false, true]));
        assert!(run("all of them", &n, &[true, true, true, false]));
        assert!(run(
            "1 of sel* and not 1 of filter*",
            &n,
            &[true, false, false, false]
        ));
        assert!(!run(
            "1 of sel* and not 1 of filter*",
            &n,
            &[true, false, true, false]
        ));
        assert!(run("1 of *_b", &n, &[false, true, false, false]));
    }

    #[test]
    fn multiline_and_case() {
        let n = ["a", "b"];
        assert!(run("a\n  AND\n  (b)", &n, &[true, true]));
    }

    #[test]
    fn errors() {
        let n = names(&["a"]);
        assert!(parse("a | count() > 5", &n).is_err());
        assert!(parse("a near b", &n).is_err());
        assert!(parse("b", &n).is_err());
        assert!(parse("1 of x*", &n).is_err());
        assert!(parse("(a", &n).is_err());
        assert!(parse("a a", &n).is_err());
        assert!(parse("", &n).is_err());
    }
}
