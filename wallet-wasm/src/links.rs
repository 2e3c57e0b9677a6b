//! URLs that come from outside (a payment request, a shop's answer, a link,
//! a token, a bank address typed in): the one check each passes before the
//! wallet fetches it or a page shows it.
//!
//! The rule: `https:`, or `http:` to a loopback host (a bank or shop on this
//! machine, for development); no user name or password in it; and, for a URL
//! a shop hands over, the very origin its payment request was fetched from.
//! Never compared with another URL of the same shop, since the shop controls
//! those too. A `javascript:`, `data:` or `file:` URL never passes, and a
//! shop cannot send the payer anywhere but its own site.
//!
//! Hosts must be ASCII (international names in punycode, `xn--`): a Unicode
//! host that looks like another is refused outright.
//!
//! Secrets (tokens, payment ids, payment requests) travel in a URL's
//! fragment only, which browsers never send to a server: [`with_fragment`].

use std::net::IpAddr;

use url::Url;

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// Not a URL at all.
    #[error("not a URL: {0}")]
    Malformed(String),
    /// A scheme other than https (or http on loopback).
    #[error("{0} links are not allowed: only https (or http on this machine)")]
    Scheme(String),
    /// A user name or password inside the URL.
    #[error("links with a user name or password are not allowed")]
    Credentials,
    /// A URL on another origin than the one it must stay on.
    #[error("the link leads to {got}, not to {expected} where the request came from")]
    OtherOrigin {
        /// Where the URL leads.
        got: String,
        /// Where it must lead.
        expected: String,
    },
}

/// Whether `host` is this machine.
fn loopback(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// `text` with its host part in ASCII lower case, refused if the host is
/// percent-encoded. Host names are case-blind; the punycode step of the URL
/// parser (ASCII-only in this build) expects lower case, and the fuzzer
/// found that `XN--` labels with capitals trip its checks.
fn lowercase_host(text: &str) -> Result<String, LinkError> {
    let Some(colon) = text.find(':') else {
        return Ok(text.to_owned());
    };
    let rest = &text[colon + 1..];
    let start = colon + 1 + (rest.len() - rest.trim_start_matches(['/', '\\']).len());
    let end = text[start..]
        .find(['/', '\\', '?', '#'])
        .map_or(text.len(), |i| start + i);
    let host = &text[start..end];
    if host.contains('%') {
        return Err(LinkError::Malformed(
            "percent-encoded host names are not allowed".into(),
        ));
    }
    Ok(format!(
        "{}{}{}",
        &text[..start],
        host.to_ascii_lowercase(),
        &text[end..]
    ))
}

/// Parses `text` and checks the scheme rule and credentials.
pub fn web_url(text: &str) -> Result<Url, LinkError> {
    let text = lowercase_host(text.trim())?;
    let u = Url::parse(&text).map_err(|e| LinkError::Malformed(e.to_string()))?;
    match u.scheme() {
        "https" => {}
        "http" if loopback(&u) => {}
        other => return Err(LinkError::Scheme(format!("{other}:"))),
    }
    if u.host().is_none() {
        return Err(LinkError::Malformed("no host".into()));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(LinkError::Credentials);
    }
    Ok(u)
}

/// The origin (`scheme://host[:port]`) of a URL that passes [`web_url`].
pub fn origin(text: &str) -> Result<String, LinkError> {
    Ok(web_url(text)?.origin().ascii_serialization())
}

/// `text` if it passes [`web_url`] and lies on `expected_origin`; the URL
/// as parsed (normalized) otherwise refused.
pub fn on_origin(text: &str, expected_origin: &str) -> Result<String, LinkError> {
    let u = web_url(text)?;
    let got = u.origin().ascii_serialization();
    if got != expected_origin {
        return Err(LinkError::OtherOrigin {
            got,
            expected: expected_origin.to_owned(),
        });
    }
    Ok(u.into())
}

/// `url` with its fragment replaced by `key=value` (form-encoded): how
/// secrets ride in links without ever reaching a server or its logs.
pub fn with_fragment(url: &str, key: &str, value: &str) -> Result<String, LinkError> {
    let mut u = web_url(url)?;
    let frag: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair(key, value)
        .finish();
    u.set_fragment(Some(&frag));
    Ok(u.into())
}

/// The value of `key` in a fragment (or query-like string) `a=1&b=2`,
/// with or without a leading `#`.
pub fn fragment_value(fragment: &str, key: &str) -> Option<String> {
    let f = fragment.strip_prefix('#').unwrap_or(fragment);
    url::form_urlencoded::parse(f.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_pass() {
        for ok in [
            "https://shop.example/pay",
            "http://127.0.0.1:8080/x",
            "http://127.9.9.9/x",
            "http://localhost:3000/",
            "http://[::1]:80/",
            "HTTPS://Shop.Example/pay",
        ] {
            assert!(web_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "javascript:alert(document.domain)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "file:///etc/passwd",
            "http://shop.example/pay",
            "http://10.0.0.1/",
            "ftp://shop.example/",
            "https://user:pw@shop.example/",
            "https://user@shop.example/",
            "//shop.example/pay",
            "/relative",
            "",
            "https://",
            // Hosts must be ASCII (punycode): no Unicode look-alikes.
            "https://аpple.example/",
            // Percent-encoded hosts, and a capitalised punycode label that
            // tripped the URL parser's checks (found by the fuzzer).
            "https://sh%6Fp.example/",
            "https://XN--bA593C%E3C%%Apupw.bn/",
        ] {
            assert!(web_url(bad).is_err(), "{bad}");
        }
        // Capitals in the host are lowered before parsing, the rest kept.
        assert_eq!(
            web_url("https://Shop.EXAMPLE:8443/Pay?Q#F").map(String::from),
            Ok("https://shop.example:8443/Pay?Q#F".to_owned())
        );
    }

    #[test]
    fn urls_must_stay_on_their_origin() {
        let o = origin("https://shop.example/api/orders/1").expect("origin");
        assert_eq!(o, "https://shop.example");
        assert!(on_origin("https://shop.example/done?x=1", &o).is_ok());
        assert!(on_origin("https://shop.example:443/done", &o).is_ok());
        for bad in [
            "https://evil.example/done",
            "https://shop.example.evil.example/",
            "https://shop.example:8443/done",
            "http://shop.example/done",
            "javascript:alert(1)",
            "https://evil.example@shop.example/",
        ] {
            assert!(on_origin(bad, &o).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_go_in_the_fragment() {
        let l = with_fragment("https://w.example/", "token", "ecash1a+b/c=").expect("link");
        assert_eq!(l, "https://w.example/#token=ecash1a%2Bb%2Fc%3D");
        assert_eq!(
            fragment_value("#token=ecash1a%2Bb%2Fc%3D", "token").as_deref(),
            Some("ecash1a+b/c=")
        );
        let l = with_fragment("https://s.example/f/1#old", "payment_id", "abc").expect("link");
        assert_eq!(l, "https://s.example/f/1#payment_id=abc");
        assert!(!l.contains('?'));
        assert!(with_fragment("javascript:x", "a", "b").is_err());
    }
}
