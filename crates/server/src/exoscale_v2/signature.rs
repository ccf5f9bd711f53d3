//! EXO2-HMAC-SHA256: the signature every Exoscale client puts on every request.
//!
//! `Authorization: EXO2-HMAC-SHA256 credential=KEY[,signed-query-args=a;b],expires=TS,signature=B64`
//! signs five lines joined by `\n`: `METHOD PATH` (the path exactly as sent), the raw body, the
//! concatenated values of the signed query arguments, an empty line for headers, and `expires`.
//! The MAC is HMAC-SHA256 keyed with the API secret, in standard base64 with padding.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The scheme name at the start of the header.
pub(crate) const SCHEME: &str = "EXO2-HMAC-SHA256";

/// The parts of an `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pragmas {
    pub(crate) credential: String,
    pub(crate) signed_query_args: Vec<String>,
    /// As sent: the signed message holds this exact text.
    pub(crate) expires: String,
    pub(crate) signature: Vec<u8>,
}

/// Why a header could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) &'static str);

impl Pragmas {
    pub(crate) fn parse(header: &str) -> Result<Pragmas, Malformed> {
        let rest = header
            .strip_prefix(SCHEME)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or(Malformed("the Authorization header must use the EXO2-HMAC-SHA256 scheme"))?;
        let (mut credential, mut signed, mut expires, mut signature) = (None, None, None, None);
        for pragma in rest.trim().split(',') {
            // Split on the first `=` only: the base64 signature ends with `=` padding.
            let (name, value) = pragma.split_once('=').ok_or(Malformed("malformed Authorization header"))?;
            let slot = match name.trim() {
                "credential" => &mut credential,
                "signed-query-args" => &mut signed,
                "expires" => &mut expires,
                "signature" => &mut signature,
                _ => return Err(Malformed("unknown pragma in the Authorization header")),
            };
            if slot.replace(value.trim().to_string()).is_some() {
                return Err(Malformed("repeated pragma in the Authorization header"));
            }
        }
        let credential = credential.filter(|c| !c.is_empty()).ok_or(Malformed("the credential is missing"))?;
        let expires = expires.ok_or(Malformed("the expiration is missing"))?;
        if expires.is_empty() || !expires.bytes().all(|b| b.is_ascii_digit()) || expires.len() > 18 {
            return Err(Malformed("the expiration must be a UNIX timestamp"));
        }
        let signature = signature.ok_or(Malformed("the signature is missing"))?;
        let signature = STANDARD.decode(signature).map_err(|_| Malformed("the signature is not base64"))?;
        let signed_query_args = match signed {
            None => Vec::new(),
            Some(list) => list.split(';').filter(|name| !name.is_empty()).map(str::to_string).collect(),
        };
        Ok(Pragmas { credential, signed_query_args, expires, signature })
    }

    /// The expiration as a number; `parse` guarantees it is one.
    pub(crate) fn expires_at(&self) -> i64 {
        self.expires.parse().unwrap_or(0)
    }
}

/// The message a client signs for a request.
pub(crate) fn message(method: &str, raw_path: &str, body: &[u8], query: Option<&str>, pragmas: &Pragmas) -> Vec<u8> {
    let mut message = Vec::with_capacity(raw_path.len() + body.len() + 64);
    message.extend_from_slice(method.to_ascii_uppercase().as_bytes());
    message.push(b' ');
    message.extend_from_slice(raw_path.as_bytes());
    message.push(b'\n');
    message.extend_from_slice(body);
    message.push(b'\n');
    message.extend_from_slice(signed_values(query, &pragmas.signed_query_args).as_bytes());
    message.push(b'\n');
    // The header segment is always empty today.
    message.push(b'\n');
    message.extend_from_slice(pragmas.expires.as_bytes());
    message
}

/// The decoded values of the signed arguments, in the order listed. A name that occurs more
/// than once (or not at all) contributes nothing: Python's signer lists repeated names without
/// their values, Go's signer leaves them out, and this reading verifies both.
fn signed_values(query: Option<&str>, names: &[String]) -> String {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut values = String::new();
    for name in names {
        let mut matching = pairs.iter().filter(|(key, _)| key == name);
        if let (Some((_, value)), None) = (matching.next(), matching.next()) {
            values.push_str(value);
        }
    }
    values
}

/// The signature of `message` under `secret`.
pub(crate) fn sign(secret: &str, message: &[u8]) -> Vec<u8> {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return Vec::new();
    };
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Whether `signature` is the signature of `message` under `secret`, compared in constant
/// time.
pub(crate) fn verify(secret: &str, message: &[u8], signature: &[u8]) -> bool {
    let expected = sign(secret, message);
    expected.len() == signature.len() && bool::from(expected.ct_eq(signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "EXOxxxxxxxxxxxxxxxxxxxxxxxx";
    const EXPIRES: &str = "3376684800";

    fn secret() -> String {
        "X".repeat(43)
    }

    /// Checks one vector end to end: the header parses, the message is as given (when given),
    /// and the signature verifies, while one changed byte does not.
    fn check(method: &str, path: &str, query: Option<&str>, body: &[u8], header: &str, expected_message: Option<&str>) {
        let pragmas = Pragmas::parse(header).unwrap();
        assert_eq!(pragmas.credential, KEY);
        assert_eq!(pragmas.expires, EXPIRES);
        let message = message(method, path, body, query, &pragmas);
        if let Some(expected) = expected_message {
            assert_eq!(String::from_utf8(message.clone()).unwrap(), expected);
        }
        assert!(verify(&secret(), &message, &pragmas.signature), "{header}");
        let mut altered = message.clone();
        altered[0] ^= 1;
        assert!(!verify(&secret(), &altered, &pragmas.signature));
        assert!(!verify("Y", &message, &pragmas.signature));
    }

    fn header(signed: Option<&str>, signature: &str) -> String {
        match signed {
            Some(args) => {
                format!("{SCHEME} credential={KEY},signed-query-args={args},expires={EXPIRES},signature={signature}")
            }
            None => format!("{SCHEME} credential={KEY},expires={EXPIRES},signature={signature}"),
        }
    }

    #[test]
    fn the_official_zone_vector_verifies() {
        check(
            "GET",
            "/v2/zone",
            None,
            b"",
            &header(None, "Ntbq/p0HVmA3Zg1HHY+Lq1vjFGi7HeMrrgXDS5jRNlY="),
            Some("GET /v2/zone\n\n\n\n3376684800"),
        );
    }

    #[test]
    fn the_official_query_vector_verifies() {
        check(
            "GET",
            "/v2/zone",
            Some("k1=v1&k2=v2"),
            b"",
            &header(Some("k1;k2"), "iqOBz13+44L5j0uJclE8hmUhQQcvtCSoPEOXYK6liqY="),
            Some("GET /v2/zone\n\nv1v2\n\n3376684800"),
        );
    }

    #[test]
    fn the_python_body_vectors_verify_with_either_json_spacing() {
        check(
            "POST",
            "/v2/anti-affinity-group",
            None,
            br#"{"name": "my-aag", "description": "web tier"}"#,
            &header(None, "4jlISjxdYLnFI/P/NotJtZVz2hI9Y4/lXWQvXFnYhKs="),
            Some("POST /v2/anti-affinity-group\n{\"name\": \"my-aag\", \"description\": \"web tier\"}\n\n\n3376684800"),
        );
        check(
            "POST",
            "/v2/anti-affinity-group",
            None,
            br#"{"description":"web tier","name":"my-aag"}"#,
            &header(None, "PHiLnjFCeW/tDMz0IdTga2/N/Kd5Y7FIFyDZX10ZA7o="),
            None,
        );
    }

    #[test]
    fn the_python_operation_and_template_vectors_verify() {
        check(
            "GET",
            "/v2/operation/e2047130-b86e-11ef-83b3-0d8312b2c2d7",
            None,
            b"",
            &header(None, "a1kAuT+ao5hvkvTp+xCLzd4PN97dEbx0kNYcHyrAd6k="),
            None,
        );
        let pragmas =
            Pragmas::parse(&header(Some("family;visibility"), "e9HpDYaOssWJCGGxkQFMvTpJwvInXh7oRT272f2ZDvE=")).unwrap();
        let message = message("GET", "/v2/template", b"", Some("visibility=public&family=ubuntu"), &pragmas);
        assert_eq!(String::from_utf8(message.clone()).unwrap().lines().nth(2), Some("ubuntupublic"));
        assert!(verify(&secret(), &message, &pragmas.signature));
    }

    #[test]
    fn repeated_and_blank_query_arguments_follow_both_signers() {
        // Python: `?a=&b=2` lists only b; `?a=1&a=2&b=3` lists a and b, and a contributes nothing.
        assert_eq!(signed_values(Some("a=&b=2"), &["b".into()]), "2");
        assert_eq!(signed_values(Some("a=1&a=2&b=3"), &["a".into(), "b".into()]), "3");
        // Go lists a blank value, contributing "".
        assert_eq!(signed_values(Some("a=&b=2"), &["a".into(), "b".into()]), "2");
        // Values are decoded: %XX and + for space.
        assert_eq!(signed_values(Some("q=a%2Fb+c"), &["q".into()]), "a/b c");
    }

    #[test]
    fn malformed_headers_are_refused_with_a_reason() {
        for bad in [
            "",
            "Bearer abc",
            "EXO2-HMAC-SHA256",
            "EXO2-HMAC-SHA256 credential=K,expires=1",
            "EXO2-HMAC-SHA256 credential=K,signature=AAAA",
            "EXO2-HMAC-SHA256 credential=,expires=1,signature=AAAA",
            "EXO2-HMAC-SHA256 credential=K,expires=soon,signature=AAAA",
            "EXO2-HMAC-SHA256 credential=K,expires=1,signature=not base64!",
            "EXO2-HMAC-SHA256 credential=K,expires=1,expires=2,signature=AAAA",
            "EXO2-HMAC-SHA256 credential=K,expires=1,signature=AAAA,colour=blue",
            "EXO2-HMAC-SHA256 credential=K,expires,signature=AAAA",
        ] {
            assert!(Pragmas::parse(bad).is_err(), "{bad}");
        }
        let parsed = Pragmas::parse("EXO2-HMAC-SHA256 expires=5,signature=AAAA,credential=K").unwrap();
        assert_eq!((parsed.credential.as_str(), parsed.expires_at()), ("K", 5), "pragmas may come in any order");
    }
}
