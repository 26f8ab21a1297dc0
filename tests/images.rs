//! Each service's container image is enough to run it. This machine cannot
//! pull the images' base, so the test builds what deploy/images/Dockerfile
//! puts in each image from the same Debian packages (the distroless
//! runtime: glibc, libgcc, libstdc++, libgomp, libssl, CA certificates, time
//! zones, netbase; identity's adds OpenSSL with the GOST engine), with the
//! binary at /app/service and no shell; then runs the whole system with
//! every service inside its root filesystem (`chroot` as the image's user
//! 65532; when not root, a user namespace, as ourselves), seeds the demo region
//! through the gateway and reads a diary.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use asurso_e2e::{System, login, teacher_lessons};

/// What gcr.io/distroless/cc-debian12 holds, by Debian package.
const RUNTIME_PACKAGES: &[&str] = &[
    "libc6",
    "libgcc-s1",
    "libgomp1",
    "libstdc++6",
    "libssl3",
    "ca-certificates",
    "tzdata",
    "netbase",
];
/// What identity's image adds (the GOST signer of its ESIA requests).
const GOST_PACKAGES: &[&str] = &["openssl", "libengine-gost-openssl"];

fn package_files(package: &str) -> anyhow::Result<Vec<PathBuf>> {
    let out = Command::new("dpkg-query").args(["-L", package]).output()?;
    anyhow::ensure!(
        out.status.success(),
        "dpkg-query -L {package}: {} (the image check reads Debian's packages; make deps installs them)",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(PathBuf::from)
        .filter(|path| {
            !["/usr/share/doc", "/usr/share/man", "/usr/share/lintian"]
                .iter()
                .any(|skip| path.starts_with(skip))
        })
        .collect())
}

/// Copies `path` (a file or a symbolic link) to the same place under
/// `root`, by its real folder, so that /lib/… and /usr/lib/… both land in
/// /usr/lib/… as in a merged-/usr image.
fn copy_into(root: &Path, path: &Path) -> anyhow::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        return Ok(());
    }
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(());
    };
    let parent = std::fs::canonicalize(parent)?;
    let target = root
        .join(parent.strip_prefix("/").unwrap_or(&parent))
        .join(name);
    if let Some(folder) = target.parent() {
        std::fs::create_dir_all(folder)?;
    }
    if target.symlink_metadata().is_ok() {
        return Ok(());
    }
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(path)?, &target)?;
    } else {
        std::fs::copy(path, &target)?;
    }
    Ok(())
}

/// The root filesystem of `service`'s image under `root`.
fn image_root(root: &Path, service: &str, binary: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(root.join("usr"))?;
    for merged in ["bin", "lib", "lib64", "sbin"] {
        std::fs::create_dir_all(root.join("usr").join(merged))?;
        std::os::unix::fs::symlink(format!("usr/{merged}"), root.join(merged))?;
    }
    let mut packages = RUNTIME_PACKAGES.to_vec();
    if service == "identity" {
        packages.extend_from_slice(GOST_PACKAGES);
    }
    for package in packages {
        for path in package_files(package)? {
            copy_into(root, &path)?;
        }
    }
    // Made by ca-certificates' trigger, not shipped in it.
    copy_into(root, Path::new("/etc/ssl/certs/ca-certificates.crt"))?;
    std::fs::create_dir_all(root.join("etc"))?;
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
    )?;
    std::fs::write(root.join("etc/group"), "root:x:0:\nnonroot:x:65532:\n")?;
    std::fs::create_dir_all(root.join("home/nonroot"))?;
    let tmp = root.join("tmp");
    std::fs::create_dir_all(&tmp)?;
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o1777))?;
    std::fs::create_dir_all(root.join("app"))?;
    // A link, not a copy: the debug binaries are large. The release binary
    // the Dockerfile builds links the same libraries.
    let app = root.join("app/service");
    if std::fs::hard_link(binary, &app).is_err() {
        std::fs::copy(binary, &app)?;
    }
    Ok(())
}

#[tokio::test]
async fn every_service_runs_in_a_root_filesystem_holding_only_its_image() -> anyhow::Result<()> {
    let roots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("images-{}", asurso_testkit::namespace()));
    let bin = asurso_devstack::bin_dir()?;
    for service in asurso_devstack::SERVICES {
        let root = roots.join(service.name);
        image_root(&root, service.name, &bin.join(service.name))?;
        for shell in ["sh", "bash", "dash", "busybox"] {
            assert!(
                !root.join("usr/bin").join(shell).exists(),
                "{}'s image holds a shell ({shell})",
                service.name
            );
        }
    }
    // Identity's signer: OpenSSL loads the GOST engine inside the image.
    let engine = asurso_devstack::confined(&roots.join("identity"), "/usr/bin/openssl")
        .args(["engine", "gost"])
        .output()?;
    assert!(
        engine.status.success() && String::from_utf8_lossy(&engine.stdout).contains("gost"),
        "openssl engine gost in identity's image: {}{}",
        String::from_utf8_lossy(&engine.stdout),
        String::from_utf8_lossy(&engine.stderr)
    );

    // The whole system, each service in its image; the seed goes through
    // the gateway and every service.
    let system = System::start_in_images(600, roots.clone()).await?;
    for service in asurso_devstack::SERVICES {
        let pid = system
            .pid(service.name)
            .await
            .ok_or_else(|| anyhow::anyhow!("{} is not running", service.name))?;
        let seen_root = std::fs::read_link(format!("/proc/{pid}/root"))?;
        assert_eq!(
            seen_root,
            roots.join(service.name),
            "{} runs in its image's root",
            service.name
        );
    }
    // A teacher opens the week's timetable: the gateway, identity's token,
    // the gradebook's read.
    let demo = system.demo.clone();
    let teacher = demo
        .schools
        .first()
        .and_then(|school| school.teachers.first())
        .ok_or_else(|| anyhow::anyhow!("the demo has no teacher"))?;
    let (token, _) = login(&system, &teacher.login).await?;
    let today = time::OffsetDateTime::now_utc().date();
    let (from, to) = asurso_devstack::seed::journal_weeks(today)?;
    let lessons = teacher_lessons(&system, &token, &teacher.person_id, from, to).await?;
    assert!(!lessons.is_empty(), "the teacher's weeks hold lessons");
    system.stop().await?;
    std::fs::remove_dir_all(&roots)?;
    Ok(())
}
