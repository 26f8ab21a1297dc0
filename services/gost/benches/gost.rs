//! What GOST costs a login through ESIA: identity checks one GOST id_token
//! (verify, here in Rust) and has two requests signed by OpenSSL with the
//! GOST engine (a process each, as the `openssl` signer runs it); esia-dev
//! signs its tokens in Rust. Prints operations per second and latency
//! percentiles for each, on one core. BENCH_ROUNDS (default 200) sets how
//! many of each in-process operation, a tenth of that for OpenSSL.

use std::time::{Duration, Instant};

use asurso_gost::{PrivateKey, PublicKey};
use asurso_testkit::load::{percentile, setting};

fn report(label: &str, mut times: Vec<Duration>) {
    times.sort();
    let total: Duration = times.iter().sum();
    println!(
        "  {label}: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} runs)",
        times.len() as f64 / total.as_secs_f64(),
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        percentile(&times, 1.0),
        times.len()
    );
}

fn timed(rounds: u64, mut run: impl FnMut()) -> Vec<Duration> {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds = setting("BENCH_ROUNDS", 200);
    let testdata = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let message = std::fs::read(testdata.join("msg"))?;
    // An id_token's signing input is a few hundred bytes, as ESIA's are.
    let input = message.repeat(20);
    println!(
        "GOST R 34.10-2012 (CryptoPro-A), {} bytes signed",
        input.len()
    );

    let key = PrivateKey::from_pkcs8_pem(&std::fs::read_to_string(testdata.join("a.key"))?)?;
    let public =
        PublicKey::from_certificate_pem(&std::fs::read_to_string(testdata.join("a.crt"))?)?;
    let signature = key.sign(&input);
    let mut failures = 0;
    report(
        "verify (identity, per login)",
        timed(rounds, || {
            if public.verify(&input, &signature).is_err() {
                failures += 1;
            }
        }),
    );
    report(
        "sign in process (esia-dev)",
        timed(rounds, || {
            std::hint::black_box(key.sign(&input));
        }),
    );
    let key_file = testdata.join("a.key");
    report(
        "sign through openssl (identity's signer, two per login)",
        timed((rounds / 10).max(5), || {
            let output = std::process::Command::new("openssl")
                .args(["dgst", "-engine", "gost", "-md_gost12_256", "-sign"])
                .arg(&key_file)
                .arg(testdata.join("msg"))
                .output();
            if !output.is_ok_and(|output| output.status.success() && output.stdout.len() == 64) {
                failures += 1;
            }
        }),
    );
    if failures > 0 {
        return Err(format!("{failures} operations failed").into());
    }
    Ok(())
}
