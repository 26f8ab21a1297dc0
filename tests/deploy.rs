//! The deployment as an operator receives it: every overlay of `k8s/`
//! builds, validates and passes its policy scan, NATS accepts its
//! configuration, and the alert rules pass promtool and their unit tests
//! (`k8s/check.py`, with the tools `make deps` installs); and the capacity
//! model still gives the numbers docs/SCALING.md shows.

use std::{path::PathBuf, process::Command};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `ASURSO_K8S_PYTHON`, else the checkout's `.run/k8s-venv`.
fn k8s_python() -> PathBuf {
    std::env::var_os("ASURSO_K8S_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".run/k8s-venv/bin/python"))
}

#[test]
fn every_overlay_builds_validates_and_passes_the_policy_scan() -> anyhow::Result<()> {
    let python = k8s_python();
    anyhow::ensure!(
        python.exists(),
        "{} is missing: `make deps` installs the Kubernetes checks' tools",
        python.display()
    );
    let out = Command::new(&python)
        .arg(repo().join("k8s/check.py"))
        .output()?;
    let report = String::from_utf8_lossy(&out.stdout);
    let problems = String::from_utf8_lossy(&out.stderr);
    println!("{report}");
    assert!(out.status.success(), "k8s/check.py:\n{report}\n{problems}");
    // Both overlays and the monitoring checks reported, not skipped.
    for line in ["dev:", "production:", "monitoring:"] {
        assert!(report.contains(line), "no {line} line in:\n{report}");
    }
    Ok(())
}

#[test]
fn the_scaling_document_shows_what_the_capacity_model_computes() -> anyhow::Result<()> {
    let out = Command::new(asurso_testkit::python())
        .arg(repo().join("deploy/capacity/model.py"))
        .arg("--check")
        .arg(repo().join("docs/SCALING.md"))
        .output()?;
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
