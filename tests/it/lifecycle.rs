//! The store's lifecycle: verify, drift, diff and garbage collection,
//! through the real binary.

use std::os::unix::fs::PermissionsExt;

use crp::digest::Sha256Digest;

use crate::common::{TestContext, bytes, files_under};

/// Makes a read-only object writable and flips one of its bytes.
fn corrupt(path: &std::path::Path) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut content = std::fs::read(path).unwrap();
    content[0] ^= 0xff;
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444)).unwrap();
}

fn local_manifest(ctx: &TestContext, files: &[(&str, &[u8])]) -> Vec<Sha256Digest> {
    let mut text = String::from("[project]\nname = \"life\"\n");
    let mut digests = Vec::new();
    for (name, content) in files {
        let digest = ctx.write_file(&format!("files/{name}"), content);
        text.push_str(&format!(
            "\n[resources.{name}]\nsource = \"files/{name}\"\nsha256 = \"{digest}\"\npurpose = \"testing\"\n"
        ));
        digests.push(digest);
    }
    ctx.write_manifest(&text);
    digests
}

#[test]
fn verify_quarantines_corrupted_objects_and_sync_fetches_them_again() {
    let ctx = TestContext::new();
    let a = bytes(1, 10_000);
    let b = bytes(2, 20_000);
    let digests = local_manifest(&ctx, &[("a", &a), ("b", &b)]);
    ctx.crp(&["sync"]).success();
    ctx.crp(&["verify"]).success();

    corrupt(&ctx.object(&digests[1]));
    let mut flipped = b.clone();
    flipped[0] ^= 0xff;
    let run = ctx.crp(&["verify"]);
    run.code(1);
    assert!(
        run.stdout
            .contains(&format!("corrupted {} (b)", digests[1].short())),
        "{run}"
    );
    assert!(
        run.stdout.contains(&format!("expected {}", digests[1])),
        "{run}"
    );
    assert!(
        run.stdout
            .contains(&format!("actual   {}", Sha256Digest::of_bytes(&flipped))),
        "{run}"
    );
    assert!(
        run.stdout
            .contains("verified 2 objects (29.3 KiB): 1 corrupted"),
        "{run}"
    );
    assert!(
        !ctx.object(&digests[1]).exists(),
        "the corrupted object left the store"
    );
    let quarantined = files_under(&ctx.store.join("quarantine"));
    assert_eq!(quarantined.len(), 1);
    assert_eq!(std::fs::read(&quarantined[0]).unwrap(), flipped);
    assert_eq!(
        ctx.object_record(&digests[1]).status,
        crp::provenance::State::Failed
    );

    // The next sync fetches it again.
    let run = ctx.crp(&["sync"]);
    run.success();
    assert!(run.stdout.contains("fetched      b"), "{run}");
    assert_eq!(std::fs::read(ctx.link("b")).unwrap(), b);
    assert_eq!(
        ctx.object_record(&digests[1]).status,
        crp::provenance::State::Available
    );
    let doc: serde_json::Value = ctx.crp(&["verify", "--all", "--format", "json"]).json();
    assert_eq!(doc["checked"], 2);
    assert_eq!(doc["corrupted"].as_array().unwrap().len(), 0);
}
