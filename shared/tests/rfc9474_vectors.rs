//! The four RFC 9474 Appendix A test vectors, every step they cover:
//! Prepare, EMSA-PSS encoding, Blind (with the vector's salt and inverse),
//! BlindSign, Finalize and Verify.

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use ecash_core::blind_rsa::{self, Variant};
use ecash_core::pss;
use ecash_core::rsa::traits::PublicKeyParts;
use ecash_core::rsa::{BoxedUint, PrivateKey};

use serde::Deserialize;

#[derive(Deserialize)]
struct Vector {
    name: String,
    p: String,
    q: String,
    n: String,
    e: String,
    d: String,
    msg: String,
    msg_prefix: String,
    input_msg: String,
    #[serde(rename = "sLen")]
    s_len: String,
    salt: String,
    #[serde(default)]
    encoded_msg: Option<String>,
    is_randomized: String,
    inv: String,
    blinded_msg: String,
    blind_sig: String,
    sig: String,
}

fn h(s: &str) -> Vec<u8> {
    let s = s.trim_start_matches("0x");
    let s = if s.len() % 2 == 1 {
        format!("0{s}")
    } else {
        s.to_owned()
    };
    hex::decode(s).expect("hex in test vector")
}

fn uint(s: &str, precision: u32) -> BoxedUint {
    BoxedUint::from_be_slice(&h(s), precision).expect("fits")
}

fn vectors() -> Vec<Vector> {
    serde_json::from_str(include_str!("data/rfc9474.json")).expect("vector file parses")
}

#[cfg_attr(
    all(target_arch = "wasm32", target_os = "unknown"),
    wasm_bindgen_test::wasm_bindgen_test
)]
#[cfg_attr(not(all(target_arch = "wasm32", target_os = "unknown")), test)]
fn all_four_vectors_pass_every_step() {
    let vs = vectors();
    assert_eq!(vs.len(), 4, "RFC 9474 has four named vectors");
    let mut names: Vec<&str> = vs.iter().map(|v| v.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "RSABSSA-SHA384-PSS-Deterministic",
            "RSABSSA-SHA384-PSS-Randomized",
            "RSABSSA-SHA384-PSSZERO-Deterministic",
            "RSABSSA-SHA384-PSSZERO-Randomized"
        ]
    );
    for v in &vs {
        check_vector(v);
    }
}

fn check_vector(v: &Vector) {
    let randomized = u8::from_str_radix(v.is_randomized.trim_start_matches("0x"), 16)
        .expect("is_randomized")
        == 1;
    let salt_len = usize::from_str_radix(v.s_len.trim_start_matches("0x"), 16).expect("sLen");
    let variant = Variant {
        salt_len,
        randomized,
    };
    let expected = match v.name.as_str() {
        "RSABSSA-SHA384-PSS-Randomized" => Variant::PSS_RANDOMIZED,
        "RSABSSA-SHA384-PSSZERO-Randomized" => Variant::PSSZERO_RANDOMIZED,
        "RSABSSA-SHA384-PSS-Deterministic" => Variant::PSS_DETERMINISTIC,
        "RSABSSA-SHA384-PSSZERO-Deterministic" => Variant::PSSZERO_DETERMINISTIC,
        other => panic!("unknown vector {other}"),
    };
    assert_eq!(variant, expected, "{}: variant parameters", v.name);

    let n_bytes = h(&v.n);
    let prec = (n_bytes.len() * 8).next_multiple_of(64) as u32;
    let sk = PrivateKey::from_components(
        uint(&v.n, prec),
        uint(&v.e, 64),
        uint(&v.d, prec),
        vec![uint(&v.p, prec / 2), uint(&v.q, prec / 2)],
    )
    .expect("vector key");
    let pk = sk.to_public_key();
    assert_eq!(pk.size(), n_bytes.len());

    // Prepare.
    let prefix: [u8; 32] = if randomized {
        h(&v.msg_prefix).try_into().expect("32-byte prefix")
    } else {
        [0u8; 32]
    };
    let input = blind_rsa::prepare(&prefix, &h(&v.msg), variant);
    assert_eq!(input, h(&v.input_msg), "{}: prepare", v.name);

    // EMSA-PSS encoding, where the vector lists it.
    let salt = h(&v.salt);
    assert_eq!(salt.len(), salt_len, "{}: salt length", v.name);
    if let Some(em) = v.encoded_msg.as_deref().filter(|s| !s.is_empty()) {
        let ours = pss::encode(&input, pk.n().bit_width() as usize - 1, &salt).expect("encode");
        assert_eq!(ours, h(em), "{}: encoded_msg", v.name);
    }

    // Blind with r = inv^-1 mod n, the vector's blinding factor.
    let inv_bytes = h(&v.inv).pipe_pad(pk.size());
    let r = blind_rsa::blinding_factor_from_inverse(&pk, &inv_bytes).expect("inv is invertible");
    let blinded = blind_rsa::blind_with(&pk, &input, &salt, r).expect("blind");
    assert_eq!(
        blinded.blinded_msg,
        h(&v.blinded_msg),
        "{}: blinded_msg",
        v.name
    );
    assert_eq!(blinded.inv.to_bytes(&pk), inv_bytes, "{}: inv", v.name);

    // BlindSign.
    let blind_sig = blind_rsa::blind_sign(&sk, &h(&v.blinded_msg)).expect("blind_sign");
    assert_eq!(blind_sig, h(&v.blind_sig), "{}: blind_sig", v.name);

    // Finalize (which verifies) and Verify.
    let sig =
        blind_rsa::finalize(&pk, &input, &blind_sig, &blinded.inv, variant).expect("finalize");
    assert_eq!(sig, h(&v.sig), "{}: sig", v.name);
    blind_rsa::verify(&pk, &input, &sig, variant).expect("verify");

    // The signature is over the prepared message only.
    let mut other = input.clone();
    other[0] ^= 1;
    assert!(
        blind_rsa::verify(&pk, &other, &sig, variant).is_err(),
        "{}: altered message",
        v.name
    );
}

trait PadTo {
    fn pipe_pad(self, len: usize) -> Vec<u8>;
}
impl PadTo for Vec<u8> {
    fn pipe_pad(self, len: usize) -> Vec<u8> {
        let mut out = vec![0u8; len.saturating_sub(self.len())];
        out.extend(self);
        out
    }
}
