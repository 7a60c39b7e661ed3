//! Several `crp sync` processes on one store at once.

use std::time::Duration;

use crp::digest::Sha256Digest;

use crate::common::{Run, TestContext, bytes};
use crate::server::{Behavior, Server};

#[test]
fn concurrent_syncs_fetch_each_object_once() {
    let ctx = TestContext::new();
    let server = Server::start();
    let names = ["a", "b", "c", "d", "e", "f"];
    let contents: Vec<Vec<u8>> = (0..names.len())
        .map(|i| bytes(20 + i as u8, 256 * 1024))
        .collect();
    for (name, content) in names.iter().zip(&contents) {
        // Slow enough (0.4 s an object) that the processes overlap even on
        // a loaded machine.
        server.route(
            &format!("{name}.bin"),
            content.clone(),
            Behavior::Slow {
                chunk: 16 * 1024,
                delay: Duration::from_millis(25),
            },
        );
    }
    let entry = |i: usize| {
        format!(
            "\n[resources.{name}]\nsource = \"{url}\"\nsha256 = \"{digest}\"\npurpose = \"shared {name}\"\n",
            name = names[i],
            url = server.url(&format!("{}.bin", names[i])),
            digest = Sha256Digest::of_bytes(&contents[i])
        )
    };
    // And one resource every project leaves unpinned: the first to get it
    // pins it, the others share what it got.
    let shared = bytes(40, 200 * 1024);
    server.route(
        "shared.bin",
        shared.clone(),
        Behavior::Slow {
            chunk: 16 * 1024,
            delay: Duration::from_millis(25),
        },
    );
    let unpinned = format!(
        "\n[resources.shared]\nsource = \"{}\"\npurpose = \"shared, unpinned\"\n",
        server.url("shared.bin")
    );
    // Overlapping projects, and the first one twice.
    let projects: [(&str, &[usize]); 5] = [
        ("p1", &[0, 1, 2]),
        ("p2", &[1, 2, 3]),
        ("p3", &[2, 3, 4]),
        ("p4", &[0, 4, 5]),
        ("p1", &[0, 1, 2]),
    ];
    for (project, members) in &projects {
        let dir = ctx.root.path().join(project);
        std::fs::create_dir_all(&dir).unwrap();
        let mut text = format!("[project]\nname = \"{project}\"\n");
        for &i in *members {
            text.push_str(&entry(i));
        }
        text.push_str(&unpinned);
        std::fs::write(dir.join("resources.toml"), text).unwrap();
    }
    let children: Vec<_> = projects
        .iter()
        .map(|(project, _)| {
            ctx.command()
                .current_dir(ctx.root.path().join(project))
                .arg("sync")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let runs: Vec<Run> = children
        .into_iter()
        .map(|child| Run::from(child.wait_with_output().unwrap(), &ctx))
        .collect();
    for run in &runs {
        run.success();
    }
    // Someone had to wait, and said for what.
    assert!(
        runs.iter()
            .any(|r| r.stderr.contains("waiting for process")),
        "no process waited:\n{}",
        runs.iter().map(ToString::to_string).collect::<String>()
    );
    for (name, content) in names.iter().zip(&contents) {
        let requests = server.requests(&format!("{name}.bin"));
        assert_eq!(
            requests.len(),
            1,
            "`{name}` was fetched {} times",
            requests.len()
        );
        assert_eq!(
            std::fs::read(ctx.object(&Sha256Digest::of_bytes(content))).unwrap(),
            *content
        );
    }
    // The first to get the unpinned resource downloaded it; every other
    // project asked the server whether it changed since (a conditional
    // request, answered `304` with no body) before sharing it.
    let shared_requests = server.requests("shared.bin");
    let downloads: Vec<_> = shared_requests.iter().filter(|r| r.status == 200).collect();
    assert_eq!(
        downloads.len(),
        1,
        "the unpinned resource was downloaded more than once: {shared_requests:?}"
    );
    for revalidation in shared_requests.iter().filter(|r| r.status != 200) {
        assert_eq!(revalidation.status, 304, "{shared_requests:?}");
        assert_eq!(revalidation.sent, 0);
        assert!(revalidation.if_none_match.is_some(), "{revalidation:?}");
    }
    let shared_digest = Sha256Digest::of_bytes(&shared);
    for (project, _) in &projects {
        let text =
            std::fs::read_to_string(ctx.root.path().join(project).join("resources.toml")).unwrap();
        assert_eq!(
            text.matches(&format!("sha256 = \"{shared_digest}\""))
                .count(),
            1,
            "{project}:\n{text}"
        );
    }
    assert_eq!(ctx.objects().len(), names.len() + 1);
    assert!(ctx.incomplete().is_empty());
    for (project, members) in &projects {
        for &i in *members {
            let link = ctx
                .root
                .path()
                .join(project)
                .join("resources")
                .join(names[i]);
            assert_eq!(
                std::fs::read(&link).unwrap(),
                contents[i],
                "{project}/{}",
                names[i]
            );
        }
    }
    // Every object's record lists exactly the projects that use it.
    for (i, name) in names.iter().enumerate() {
        let digest = Sha256Digest::of_bytes(&contents[i]);
        let record = ctx.object_record(&digest);
        let mut users: Vec<&str> = record.projects.iter().map(|u| u.project.as_str()).collect();
        users.sort_unstable();
        let mut expected: Vec<&str> = projects[..4]
            .iter()
            .filter(|(_, members)| members.contains(&i))
            .map(|(p, _)| *p)
            .collect();
        expected.sort_unstable();
        assert_eq!(users, expected, "users of `{name}`");
    }
}

#[test]
fn concurrent_first_uses_from_two_sources_both_stay_in_the_record() {
    // Two projects leave the same bytes unpinned, each from its own URL:
    // each takes its own sources' lock, and both write the object's record.
    let ctx = TestContext::new();
    let server = Server::start();
    let count = 60;
    let contents: Vec<Vec<u8>> = (0..count).map(|i| bytes(100 + i as u8, 3000)).collect();
    for (i, content) in contents.iter().enumerate() {
        for mirror in ["a", "b"] {
            server.route(
                &format!("{mirror}/{i}.bin"),
                content.clone(),
                Behavior::Normal,
            );
        }
    }
    let dirs: Vec<_> = ["a", "b"]
        .iter()
        .map(|mirror| {
            let dir = ctx.root.path().join(format!("project-{mirror}"));
            std::fs::create_dir_all(&dir).unwrap();
            let mut text = format!("[project]\nname = \"{mirror}\"\n");
            for i in 0..count {
                text.push_str(&format!(
                    "\n[resources.r{i}]\nsource = \"{}\"\npurpose = \"shared\"\n",
                    server.url(&format!("{mirror}/{i}.bin"))
                ));
            }
            std::fs::write(dir.join("resources.toml"), text).unwrap();
            dir
        })
        .collect();
    let children: Vec<_> = dirs
        .iter()
        .map(|dir| {
            ctx.command()
                .current_dir(dir)
                .args(["sync", "--jobs", "8"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        Run::from(child.wait_with_output().unwrap(), &ctx).success();
    }
    for content in &contents {
        let digest = Sha256Digest::of_bytes(content);
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(ctx.record_path(&digest)).unwrap()).unwrap();
        let projects = record["related_projects"].as_array().map_or(0, Vec::len);
        assert_eq!(projects, 2, "a project's use was lost: {record:#}");
    }
}
