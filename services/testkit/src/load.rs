//! A load driver for benches: callers at once, each calling as fast as its
//! answers come for a while after a warm-up, and the figures of the run
//! (calls per second, latency percentiles). What a call is belongs to the
//! bench: a closure per caller that makes one call from a random number.

use std::{
    future::Future,
    pin::Pin,
    time::{Duration, Instant},
};

/// One call of a caller, given a random number to pick its arguments with;
/// an error is counted and the run goes on.
pub type Call =
    Box<dyn FnMut(u64) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send>;

/// A whole-number setting from the environment, `default` when unset or
/// unreadable (BENCH_SECONDS, BENCH_CONCURRENCY, …).
pub fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// The resident memory of process `pid` (this process when `None`), in
/// MiB, from `/proc` (Linux); NaN when it cannot be read.
pub fn resident_mib(pid: Option<u32>) -> f64 {
    let status = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    std::fs::read_to_string(status)
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|value| {
                    value
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Figures {
    pub calls: usize,
    pub errors: usize,
    /// The first error seen, to say why.
    pub first_error: Option<String>,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Figures {
    /// One line: `label: N/s, p50, p99, max (calls, errors)`.
    pub fn print(&self, label: &str, unit: &str) {
        println!(
            "  {label}: {:.0} {unit}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} calls, {} errors)",
            self.per_second, self.p50_ms, self.p99_ms, self.max_ms, self.calls, self.errors
        );
    }
}

/// A small seeded generator: benches need spread, not secrecy.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The `p`-th (0 to 1) of sorted latencies, in milliseconds; NaN for none.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let last = sorted.len() - 1;
    // Indexes of any run fit f64 exactly.
    let index = ((last as f64) * p).round() as usize;
    sorted[index.min(last)].as_secs_f64() * 1000.0
}

/// Runs `concurrency` callers (made by `caller(i)`) for two seconds of
/// warm-up and then `seconds` measured, each calling again as soon as its
/// answer comes (a closed loop: with many callers, latency is mostly the
/// queue, callers / throughput).
pub async fn drive(
    concurrency: u64,
    seconds: u64,
    caller: impl FnMut(u64) -> Call,
) -> anyhow::Result<Figures> {
    run(concurrency, seconds, None, caller).await
}

/// The same, each caller calling once every `every` (people with a page
/// open, not a queue of them): `concurrency / every` calls a second are
/// offered, and latency is what each call takes. A call slower than
/// `every` is followed at once by the next, never by a burst.
pub async fn drive_paced(
    concurrency: u64,
    seconds: u64,
    every: Duration,
    caller: impl FnMut(u64) -> Call,
) -> anyhow::Result<Figures> {
    run(concurrency, seconds, Some(every), caller).await
}

async fn run(
    concurrency: u64,
    seconds: u64,
    every: Option<Duration>,
    mut caller: impl FnMut(u64) -> Call,
) -> anyhow::Result<Figures> {
    let warmup = Duration::from_secs(2);
    let start = Instant::now();
    let measured_from = start + warmup;
    let until = measured_from + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for number in 0..concurrency {
        let mut call = caller(number);
        tasks.push(tokio::spawn(async move {
            let mut random = XorShift(0x9E37_79B9_7F4A_7C15 ^ (number + 1));
            let mut latencies = Vec::new();
            let mut errors = Vec::new();
            // Paced callers start spread over one interval.
            let mut ticks = every.map(|every| {
                let offset = every.mul_f64((number as f64) / (concurrency.max(1) as f64));
                let mut ticks =
                    tokio::time::interval_at(tokio::time::Instant::now() + offset, every);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                ticks
            });
            loop {
                if let Some(ticks) = ticks.as_mut() {
                    ticks.tick().await;
                }
                let now = Instant::now();
                if now >= until {
                    break;
                }
                let outcome = call(random.next()).await;
                if now < measured_from {
                    continue;
                }
                match outcome {
                    Ok(()) => latencies.push(now.elapsed()),
                    Err(error) => errors.push(error),
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    for task in tasks {
        let (mine, failed) = task.await?;
        latencies.extend(mine);
        errors.extend(failed);
    }
    latencies.sort();
    // Counts of a bench fit f64 exactly.
    let per_second = latencies.len() as f64 / seconds.max(1) as f64;
    Ok(Figures {
        calls: latencies.len(),
        errors: errors.len(),
        first_error: errors.into_iter().next(),
        per_second,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        max_ms: percentile(&latencies, 1.0),
    })
}
