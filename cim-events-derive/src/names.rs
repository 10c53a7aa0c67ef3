//! Rules about names: NATS subject tokens (mirroring `cim_events::subject`, which this
//! crate cannot depend on), method names derived from variant names, and "did you mean"
//! suggestions.

use quote::ToTokens;

/// The longest token accepted, in bytes (`cim_events::subject::MAX_TOKEN_LEN`).
pub const MAX_TOKEN_LEN: usize = 128;

/// The default subject prefix (`cim_events::subject::DEFAULT_PREFIX`).
pub const DEFAULT_PREFIX: &str = "events";

/// Why `value` is not one safe NATS subject token, or `None` when it is one.
pub fn token_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        return Some("it is empty".to_owned());
    }
    if value.len() > MAX_TOKEN_LEN {
        return Some(format!(
            "it is {} bytes long, the limit is {MAX_TOKEN_LEN}",
            value.len()
        ));
    }
    let bad = value
        .chars()
        .find(|&c| matches!(c, '.' | '*' | '>') || c.is_whitespace() || c.is_control())?;
    Some(match bad {
        '.' => "`.` separates tokens".to_owned(),
        '*' | '>' => format!("`{bad}` is a wildcard"),
        c if c.is_whitespace() => format!("whitespace `{}` is not allowed", c.escape_debug()),
        c => format!("character `{}` is not allowed", c.escape_debug()),
    })
}

/// The message for a name that is not a token, with how to fix it.
pub fn token_error(what: &str, value: &str, problem: &str) -> String {
    format!(
        "{what} `{}` is not a valid NATS subject token: {problem}; use letters, digits, `-` or `_`",
        shorten(value).escape_debug()
    )
}

/// A name short enough to quote in a message: its first 32 characters and `…` when long.
pub fn shorten(value: &str) -> String {
    if value.chars().count() > 40 {
        value.chars().take(32).chain("…".chars()).collect()
    } else {
        value.to_owned()
    }
}

/// `MoneyDeposited` → `money_deposited`, `HTTPError` → `http_error`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                None | Some('_') => false,
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                Some(p) => p.is_uppercase() && next.is_some_and(char::is_lowercase),
            };
            if boundary {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The identifier as written, without a raw-identifier `r#` prefix.
pub fn unraw(ident: &syn::Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

/// The closest of `candidates` to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|&c| (edit_distance(word, c), c))
        .filter(|&(d, c)| d <= 2 && d < c.len().max(word.len()))
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Levenshtein distance with adjacent transpositions counted as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

/// Tokens as a user would write them, for messages: `Vec<u8>` rather than `Vec < u8 >`.
pub fn pretty<T: ToTokens>(tokens: &T) -> String {
    let raw = tokens.to_token_stream().to_string();
    let mut out = String::with_capacity(raw.len());
    let chars: Vec<char> = raw.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1).copied();
            let glue_after = matches!(prev, Some('<' | '&' | ':' | '(' | '[' | '\''));
            let glue_before = matches!(next, Some('<' | '>' | ',' | ':' | ')' | ']'));
            let keep = matches!(prev, Some(',' | '='));
            if (glue_after || glue_before) && !keep {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// How an `#[apply]` would best take a field of type `ty`, for messages: `&str` for a
/// `String` (the binding coerces), `&[T]` for a `Vec<T>`, `&T` otherwise.
pub fn borrowed(ty: &syn::Type) -> String {
    let text = pretty(ty);
    if text == "String" {
        return "&str".to_owned();
    }
    match text.strip_prefix("Vec<").and_then(|t| t.strip_suffix('>')) {
        Some(item) => format!("&[{item}]"),
        None => format!("&{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert_eq!(token_problem("Opened"), None);
        assert_eq!(token_problem("order_1-é"), None);
        assert_eq!(token_problem("").as_deref(), Some("it is empty"));
        assert_eq!(
            token_problem("Order.Created").as_deref(),
            Some("`.` separates tokens")
        );
        assert_eq!(token_problem("a*").as_deref(), Some("`*` is a wildcard"));
        assert_eq!(token_problem(">").as_deref(), Some("`>` is a wildcard"));
        assert_eq!(
            token_problem("a b").as_deref(),
            Some("whitespace ` ` is not allowed")
        );
        assert_eq!(
            token_problem("a\u{7}").as_deref(),
            Some("character `\\u{7}` is not allowed")
        );
        assert!(token_problem(&"x".repeat(129)).is_some());
        assert_eq!(token_problem(&"x".repeat(128)), None);
    }

    #[test]
    fn snake() {
        assert_eq!(snake_case("Opened"), "opened");
        assert_eq!(snake_case("MoneyDeposited"), "money_deposited");
        assert_eq!(snake_case("HTTPError"), "http_error");
        assert_eq!(snake_case("V2Opened"), "v2_opened");
        assert_eq!(snake_case("already_snake"), "already_snake");
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("nmae", &["aggregate", "name", "schema"]),
            Some("name")
        );
        assert_eq!(
            did_you_mean("evnets", &["events", "error", "name"]),
            Some("events")
        );
        assert_eq!(
            did_you_mean("colour", &["aggregate", "name", "schema"]),
            None
        );
        assert_eq!(did_you_mean("x", &["id"]), None);
    }

    #[test]
    fn borrowed_types() {
        let ty: syn::Type = syn::parse_quote!(String);
        assert_eq!(borrowed(&ty), "&str");
        let ty: syn::Type = syn::parse_quote!(Vec<u8>);
        assert_eq!(borrowed(&ty), "&[u8]");
        let ty: syn::Type = syn::parse_quote!(u64);
        assert_eq!(borrowed(&ty), "&u64");
    }

    #[test]
    fn pretty_types() {
        let ty: syn::Type = syn::parse_quote!(::std::collections::BTreeMap<String, Vec<u8>>);
        assert_eq!(pretty(&ty), "::std::collections::BTreeMap<String, Vec<u8>>");
        let ty: syn::Type = syn::parse_quote!(&'static str);
        assert_eq!(pretty(&ty), "&'static str");
        let ty: syn::Type = syn::parse_quote!(Option<(u8, String)>);
        assert_eq!(pretty(&ty), "Option<(u8, String)>");
    }
}
