//! The command line's contract: usage errors exit 2 with a message that helps, and
//! `--json` prints a document scripts can read.

use std::process::Command;

fn irqkit(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_irqkit")).args(args).output().expect("run irqkit")
}

fn scenario_file(name: &str, text: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("irqkit-cli-{}-{name}.toml", std::process::id()));
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn malformed_toml_exits_2_with_line_and_column() {
    let p = scenario_file("bad", "[machine]\ncpus = 2\nhz = ]\n");
    let out = irqkit(&["run", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3"), "{err}");
}

#[test]
fn unknown_device_kind_and_missing_cpu_exit_2() {
    let p = scenario_file(
        "kind",
        "[machine]\ncpus = 2\n[[device]]\nname = \"d\"\nkind = \"fax\"\nrate_hz = 5.0\n",
    );
    let out = irqkit(&["run", p.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("valid kinds"));
    let p = scenario_file(
        "cpu",
        "[machine]\ncpus = 2\n[[device]]\nname = \"d\"\nkind = \"nic\"\nrate_hz = 5.0\naffinity = [3]\n",
    );
    assert_eq!(irqkit(&["run", p.to_str().unwrap()]).status.code(), Some(2));
    assert_eq!(irqkit(&["run", "/nonexistent/x.toml"]).status.code(), Some(2));
    assert_eq!(irqkit(&["--bogus-flag"]).status.code(), Some(2));
}

#[test]
fn too_high_a_rate_warns_and_reports_drops_instead_of_hanging() {
    let p = scenario_file(
        "fast",
        "[machine]\ncpus = 1\nhz = 100\n[run]\nduration_s = 0.3\n[[device]]\nname = \"flood\"\nkind = \"nic\"\nrate_hz = 1000000.0\nhard_cost_us = 5.0\nbottom_half = \"none\"\n",
    );
    let out = irqkit(&["run", p.to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["lost"], 0);
    let d = &v["devices"][0];
    assert!(d["dropped"].as_u64().unwrap() > 0 || d["coalesced"].as_u64().unwrap() > 0);
}
