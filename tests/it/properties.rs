//! Readers of hostile input never panic, and return in bounded time, on
//! anything: the manifest parser, the torrent metainfo reader, and the
//! content inspector. Inputs are built from the format's own pieces (so
//! they reach deep into the readers) mixed with noise, with a bounded number
//! of cases so CI stays quick.

use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use crp::manifest::Manifest;
use crp::torrent::metainfo::Metainfo;

/// How long one input may take, on a slow, loaded machine.
const BOUND: Duration = Duration::from_secs(5);

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Lines a manifest is made of, right and wrong.
fn manifest_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("[project]".to_owned()),
        Just("[resources.a]".to_owned()),
        Just("[resources.\"b.txt\"]".to_owned()),
        Just("[resources.a.b]".to_owned()),
        Just("[[resources]]".to_owned()),
        "name = \"[a-z0-9.-]{0,12}\"",
        "link_dir = \"[a-z./\\\\u{0}-]{0,10}\"",
        "link_mode = \"(symlink|hardlink|copy|x)\"",
        "source = \"(https://h/|file:///|magnet:\\?xt=urn:btih:|ftp://|\\.\\./)[a-z0-9%&=?/.-]{0,30}\"",
        "sources = \\[(\"[a-z:/.]{0,10}\", ){0,3}\\]",
        "sha256 = \"[0-9a-f]{0,70}\"",
        "size = (-?[0-9]{1,22}|\"[0-9]{1,4} (KB|GiB|x)\")",
        "purpose = \"[ -~]{0,20}\"",
        "(executable|seed) = (true|false|1)",
        "derived_from = \\[(\"[a-z]{1,3}\", ){0,3}\\]",
        "[a-z_]{1,8} = [0-9]{1,3}",
        "[ -~]{0,40}",
        any::<String>(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_manifest_parser_never_panics(lines in prop::collection::vec(manifest_line(), 0..24)) {
        let text = lines.join("\n");
        let started = Instant::now();
        let _ = Manifest::from_text(Path::new("/nonexistent/resources.toml"), text);
        prop_assert!(started.elapsed() < BOUND);
    }

    #[test]
    fn the_manifest_parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let started = Instant::now();
        let _ = Manifest::from_text(Path::new("/nonexistent/resources.toml"), text);
        prop_assert!(started.elapsed() < BOUND);
    }
}

/// A bencoded value, nested at most `depth` deep.
fn bencode(depth: u32) -> impl Strategy<Value = Vec<u8>> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|n| format!("i{n}e").into_bytes()),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|s| {
            let mut out = format!("{}:", s.len()).into_bytes();
            out.extend(s);
            out
        }),
        prop_oneof![
            Just("name"),
            Just("name.utf-8"),
            Just("path"),
            Just("path.utf-8"),
            Just("length"),
            Just("files"),
            Just("info"),
            Just("pieces"),
            Just("piece length"),
            Just(".."),
            Just("")
        ]
        .prop_map(|k| format!("{}:{k}", k.len()).into_bytes()),
        // Broken pieces: a length that lies, a number never closed.
        Just(b"999999:x".to_vec()),
        Just(b"i12".to_vec()),
    ];
    leaf.prop_recursive(depth, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|items| {
                let mut out = b"l".to_vec();
                items.into_iter().for_each(|i| out.extend(i));
                out.push(b'e');
                out
            }),
            prop::collection::vec(inner, 0..6).prop_map(|items| {
                let mut out = b"d".to_vec();
                items.into_iter().for_each(|i| out.extend(i));
                out.push(b'e');
                out
            }),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_metainfo_reader_never_panics(body in bencode(6)) {
        // Most inputs are wrapped as a torrent would be, to get past the top.
        for bytes in [body.clone(), [b"d4:info".as_slice(), &body, b"e"].concat()] {
            let started = Instant::now();
            let _ = Metainfo::parse(bytes);
            prop_assert!(started.elapsed() < BOUND);
        }
    }

    #[test]
    fn the_metainfo_reader_survives_deep_nesting(depth in 0usize..200_000, open in prop_oneof![Just(b'l'), Just(b'd')]) {
        let mut bytes = b"d4:infod4:name1:x5:extra".to_vec();
        bytes.extend(std::iter::repeat_n(open, depth));
        bytes.extend(std::iter::repeat_n(b'e', depth));
        bytes.extend(b"ee");
        let started = Instant::now();
        let _ = Metainfo::parse(bytes);
        prop_assert!(started.elapsed() < BOUND);
    }
}

/// Bytes that start like the formats the inspector looks into.
fn content() -> impl Strategy<Value = Vec<u8>> {
    let head = prop_oneof![
        Just(vec![0x1f, 0x8b]),
        Just(vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]),
        Just(b"PK\x03\x04".to_vec()),
        Just(b"PK\x05\x06".to_vec()),
        Just(b"\x7fELF".to_vec()),
        Just(b"MZ".to_vec()),
        Just(vec![0xca, 0xfe, 0xba, 0xbe]),
        Just(Vec::new()),
    ];
    (
        head,
        prop::collection::vec(any::<u8>(), 0..8192),
        any::<bool>(),
    )
        .prop_map(|(head, rest, tar)| {
            let mut bytes = head;
            bytes.extend(rest);
            if tar && bytes.len() > 262 {
                bytes[257..262].copy_from_slice(b"ustar");
            }
            bytes
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_content_inspector_never_fails_on_data(bytes in content()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("object");
        std::fs::write(&path, &bytes).unwrap();
        let started = Instant::now();
        // Whatever the bytes, looking at a readable file is an answer.
        prop_assert!(crp::policy::exec::detect(&path).is_ok());
        prop_assert!(started.elapsed() < BOUND);
    }
}
