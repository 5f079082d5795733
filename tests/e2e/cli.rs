//! The `s2` CLI against Strand and against `s2 lite`, side by side: every control-plane
//! command must print the same output and succeed or fail alike. Timestamps are masked.

use crate::support::{run_cli, run_cli_with_input, Lite, Server};

fn mask_timestamps(s: &str) -> String {
    // RFC 3339 instants as printed by the CLI: 2026-11-23T12:23:35.102087078Z
    let mut out = String::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let looks_like_ts = i + 20 <= b.len()
            && b[i..i + 4].iter().all(u8::is_ascii_digit)
            && b[i + 4] == b'-'
            && b[i + 10] == b'T';
        if looks_like_ts {
            let mut j = i;
            while j < b.len() && !b[j].is_ascii_whitespace() && b[j] != b'"' && b[j] != b'|' {
                j += 1;
            }
            out.push_str("<ts>");
            i = j;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

#[test]
fn cli_control_plane_matches_s2_lite() {
    let strand = Server::start(&[]);
    let lite = Lite::start();
    let (b1, b2) = ("cli-basin-one", "cli-basin-two");
    let s = |x: &str| format!("s2://{b1}/{x}");
    let script: Vec<Vec<String>> = vec![
        vec!["list-basins".into()],
        vec!["create-basin".into(), b1.into()],
        vec!["create-basin".into(), b1.into()],
        vec!["create-basin".into(), "Bad_Name".into()],
        vec![
            "create-basin".into(),
            b2.into(),
            "--storage-class".into(),
            "standard".into(),
            "--retention-policy".into(),
            "1d".into(),
        ],
        vec!["list-basins".into()],
        vec![
            "list-basins".into(),
            "--prefix".into(),
            "cli-basin-t".into(),
        ],
        vec!["list-basins".into(), "--start-after".into(), b1.into()],
        vec!["ls".into()],
        vec!["get-basin-config".into(), b1.into()],
        vec!["get-basin-config".into(), b2.into()],
        vec!["get-basin-config".into(), "cli-basin-missing".into()],
        vec![
            "reconfigure-basin".into(),
            b1.into(),
            "--create-stream-on-append".into(),
            "true".into(),
            "--timestamping-mode".into(),
            "arrival".into(),
        ],
        vec!["get-basin-config".into(), b1.into()],
        vec!["create-stream".into(), s("alpha")],
        vec![
            "create-stream".into(),
            s("beta"),
            "--retention-policy".into(),
            "infinite".into(),
            "--delete-on-empty-min-age".into(),
            "1h".into(),
        ],
        vec!["create-stream".into(), s("alpha")],
        vec!["create-stream".into(), "s2://cli-basin-missing/x".into()],
        vec!["list-streams".into(), format!("s2://{b1}")],
        vec![
            "list-streams".into(),
            format!("s2://{b1}"),
            "--prefix".into(),
            "al".into(),
        ],
        vec!["ls".into(), format!("s2://{b1}")],
        vec!["get-stream-config".into(), s("alpha")],
        vec!["get-stream-config".into(), s("beta")],
        vec!["get-stream-config".into(), s("missing")],
        vec![
            "reconfigure-stream".into(),
            s("alpha"),
            "--storage-class".into(),
            "standard".into(),
            "--timestamping-uncapped".into(),
            "true".into(),
        ],
        vec!["get-stream-config".into(), s("alpha")],
        vec![
            "reconfigure-stream".into(),
            s("missing"),
            "--storage-class".into(),
            "standard".into(),
        ],
        vec!["delete-stream".into(), s("beta")],
        vec!["delete-stream".into(), s("missing")],
        vec!["delete-basin".into(), b2.into()],
        vec!["delete-basin".into(), "cli-basin-missing".into()],
    ];
    for cmd in &script {
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        let (ok_s, out_s, err_s) = run_cli(&strand.endpoint(), &args);
        let (ok_l, out_l, err_l) = run_cli(&lite.endpoint(), &args);
        assert_eq!(
            ok_s,
            ok_l,
            "`s2 {}` success differs\nstrand: {out_s}{err_s}\nlite: {out_l}{err_l}",
            cmd.join(" ")
        );
        assert_eq!(
            mask_timestamps(&out_s),
            mask_timestamps(&out_l),
            "`s2 {}` stdout differs",
            cmd.join(" ")
        );
        assert_eq!(
            mask_timestamps(&err_s),
            mask_timestamps(&err_l),
            "`s2 {}` stderr differs",
            cmd.join(" ")
        );
    }
}

#[test]
fn http_control_plane_matches_s2_lite() {
    // The differential request list lives beside the tests as a script, so it can also be
    // pointed at any two servers by hand.
    let strand = Server::start(&[]);
    let lite = Lite::start();
    let script = crate::support::repo_root().join("tests/compat/differential.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(strand.endpoint())
        .arg(lite.endpoint())
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "differences from s2 lite:\n{text}");
    assert!(text.contains(" passed, 0 failed"), "{text}");
}

/// Strips what legitimately differs between servers: arrival timestamps after `@`.
fn mask_arrival(s: &str) -> String {
    s.split_whitespace()
        .map(|w| {
            if w.len() >= 13 && w.chars().all(|c| c.is_ascii_digit()) {
                "<ms>"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn cli_sessions_append_read_tail_match_s2_lite() {
    let strand = Server::start(&[]);
    let lite = Lite::start();
    let lines: String = (0..200).map(|i| format!("line {i}\n")).collect();
    let uri = "s2://cli-session-1/s";
    let steps: Vec<(Vec<&str>, Option<&str>)> = vec![
        (vec!["create-basin", "cli-session-1"], None),
        (vec!["create-stream", uri], None),
        (vec!["append", uri], Some(lines.as_str())),
        (vec!["append", uri], Some("more\n")),
        (vec!["check-tail", uri], None),
        (vec!["read", uri, "-s", "0", "-n", "201"], None),
        (vec!["read", uri, "-s", "195", "-n", "3"], None),
        (vec!["read", uri, "--ago", "1h", "-n", "2"], None),
        (vec!["tail", uri, "-n", "3"], None),
        (vec!["fence", uri, "tok"], None),
        (vec!["append", uri, "-f", "wrong"], Some("x\n")),
        (vec!["append", uri, "-f", "tok"], Some("fenced\n")),
        (vec!["trim", uri, "100"], None),
        (vec!["read", uri, "-s", "0", "-n", "2"], None),
        (vec!["check-tail", uri], None),
        (
            vec!["read", "s2://cli-session-1/missing", "-s", "0", "-n", "1"],
            None,
        ),
    ];
    for (args, input) in &steps {
        let (ok_s, out_s, err_s) = run_cli_with_input(&strand.endpoint(), args, *input);
        let (ok_l, out_l, err_l) = run_cli_with_input(&lite.endpoint(), args, *input);
        let what = args.join(" ");
        assert_eq!(
            ok_s, ok_l,
            "`s2 {what}` success differs\nstrand: {out_s}{err_s}\nlite: {out_l}{err_l}"
        );
        assert_eq!(
            mask_arrival(&out_s),
            mask_arrival(&out_l),
            "`s2 {what}` stdout differs"
        );
        assert_eq!(
            mask_arrival(&err_s),
            mask_arrival(&err_l),
            "`s2 {what}` stderr differs"
        );
    }
}
