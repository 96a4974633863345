//! Property tests of the tus header parsers: any input is either parsed or refused with
//! a message (a 400), never a panic; valid encodings round-trip.

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use tellus_server::tus::headers::{
    Algorithm, parse_checksum, parse_metadata, parse_sha256_hex, parse_u64,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_text_never_panics(text in "\\PC*") {
        let _ = parse_u64("Upload-Offset", &text);
        let _ = parse_metadata(&text);
        let _ = parse_checksum(&text);
        let _ = parse_sha256_hex(text.as_bytes());
    }

    #[test]
    fn header_like_text_never_panics(text in "[a-z0-9 ,=+/\\-]{0,80}") {
        let _ = parse_metadata(&text);
        let _ = parse_checksum(&text);
        let _ = parse_u64("Upload-Length", &text);
    }

    #[test]
    fn offsets_round_trip(n in any::<u64>()) {
        prop_assert_eq!(parse_u64("Upload-Offset", &n.to_string()), Ok(n));
    }

    #[test]
    fn offsets_with_anything_but_digits_are_refused(n in any::<u64>(), junk in "[^0-9]{1,3}") {
        let refused = parse_u64("Upload-Offset", &format!("{n}{junk}")).is_err();
        prop_assert!(refused);
        let refused = parse_u64("Upload-Offset", &format!("{junk}{n}")).is_err();
        prop_assert!(refused);
    }

    #[test]
    fn metadata_round_trips(pairs in proptest::collection::btree_map("[a-z_]{1,12}", proptest::collection::vec(any::<u8>(), 0..40), 0..6)) {
        let header = pairs
            .iter()
            .map(|(k, v)| if v.is_empty() { k.clone() } else { format!("{k} {}", STANDARD.encode(v)) })
            .collect::<Vec<_>>()
            .join(",");
        prop_assert_eq!(parse_metadata(&header), Ok(pairs));
    }

    #[test]
    fn checksums_round_trip(digest in proptest::collection::vec(any::<u8>(), 32)) {
        let header = format!("sha256 {}", STANDARD.encode(&digest));
        prop_assert_eq!(parse_checksum(&header), Ok((Algorithm::Sha256, digest.clone())));
        let header = format!("sha1 {}", STANDARD.encode(&digest[..20]));
        prop_assert_eq!(parse_checksum(&header), Ok((Algorithm::Sha1, digest[..20].to_vec())));
        // A digest of the wrong size for its algorithm is refused.
        let refused = parse_checksum(&format!("sha1 {}", STANDARD.encode(&digest))).is_err();
        prop_assert!(refused);
    }
}

#[test]
fn examples_of_malformed_values_are_refused() {
    for bad in [
        "",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1.0",
        "0x10",
        "18446744073709551616",
        "１",
    ] {
        assert!(parse_u64("Upload-Offset", bad).is_err(), "{bad:?}");
    }
    for bad in ["key !!!", "a b c", ",", "a YQ==,a YQ==", " ", "ключ YQ=="] {
        assert!(
            parse_metadata(bad).is_err() || bad.trim().is_empty(),
            "{bad:?}"
        );
    }
    for bad in [
        "sha1",
        "sha1 ",
        "md5 AAAA",
        "SHA1 AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "sha256 ***",
    ] {
        assert!(parse_checksum(bad).is_err(), "{bad:?}");
    }
}

/// The same through the real server: random printable header values on a real upload
/// get a JSON 4xx (or are accepted), never a 5xx, and the upload is unharmed.
#[test]
fn random_header_values_over_http_are_4xx_never_5xx() {
    use reqwest::Method;
    use support::*;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = Server::start().await;
        let reporter = server.enrol(PROJECT, tellus_server::Role::Reporter).await;
        let story = reporter.consented_story().await;
        let data = audio(1000, 1);
        let path = reporter.new_upload(&story, &new_id(), &data).await;
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(150));
        let values = "[ -~]{0,60}";
        let mut strategy_values = Vec::new();
        for _ in 0..150 {
            let tree = values.new_tree(&mut runner).unwrap();
            strategy_values.push(tree.current());
        }
        for value in strategy_values {
            for (name, method) in [
                ("Upload-Offset", Method::PATCH),
                ("Upload-Checksum", Method::PATCH),
                ("Upload-Metadata", Method::POST),
                ("Upload-Length", Method::POST),
            ] {
                let target = if method == Method::POST {
                    "/api/v1/uploads".to_string()
                } else {
                    path.clone()
                };
                let mut req = reporter
                    .tus(method.clone(), &target)
                    .header("Content-Type", "application/offset+octet-stream");
                if name != "Upload-Offset" && method == Method::PATCH {
                    req = req.header("Upload-Offset", "0");
                }
                if name != "Upload-Length" && method == Method::POST {
                    req = req.header("Upload-Length", "1000");
                }
                let r = req
                    .header(name, value.as_str())
                    .body(Vec::<u8>::new())
                    .send()
                    .await
                    .unwrap();
                assert!(
                    !r.status().is_server_error(),
                    "{name}: {value:?} got {}",
                    r.status()
                );
                if r.status().is_client_error() {
                    let body: serde_json::Value = r.json().await.unwrap();
                    assert!(body["code"].is_string(), "{name}: {value:?}");
                }
            }
        }
        assert_eq!(reporter.offset(&path).await, 0);
    });
}
