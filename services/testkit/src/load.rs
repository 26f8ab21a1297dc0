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
    /// Calls measured (after the warm-up).
    pub calls: usize,
    /// Every call made, the warm-up's too: what the system served, to
    /// divide its own counters by.
    pub all_calls: usize,
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

/// A random pause of `mean` on average, exponentially distributed (the
/// gaps between the calls of people acting on their own).
fn pause(random: &mut XorShift, mean: Duration) -> Duration {
    // A uniform number in (0, 1]: 53 random bits, never zero.
    let uniform = ((random.next() >> 11) + 1) as f64 / (1u64 << 53) as f64;
    mean.mul_f64(-uniform.ln())
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

/// The same, each caller calling on average once every `every` (people
/// with a page open, not a queue of them): `concurrency / every` calls a
/// second are offered, at random moments (each caller's pauses are
/// exponential, so the calls of all arrive as people's do, in clumps).
/// Latency is counted from the moment a call was due, not from when the
/// caller got to make it: a caller still waiting for its last answer when
/// the next was due counts that wait too (no coordinated omission).
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
            let mut warming = 0;
            // A paced caller's first call is due after a random pause too.
            let mut due = every.map(|every| start + pause(&mut random, every));
            loop {
                if let Some(due) = due {
                    tokio::time::sleep_until(due.into()).await;
                }
                let now = Instant::now();
                let from = due.unwrap_or(now);
                if from >= until {
                    break;
                }
                let outcome = call(random.next()).await;
                if let (Some(due), Some(every)) = (due.as_mut(), every) {
                    *due += pause(&mut random, every);
                }
                if from < measured_from {
                    warming += 1;
                    continue;
                }
                match outcome {
                    Ok(()) => latencies.push(from.elapsed()),
                    Err(error) => errors.push(error),
                }
            }
            (latencies, errors, warming)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = Vec::new();
    let mut warm_up_calls = 0;
    for task in tasks {
        let (mine, failed, warming) = task.await?;
        latencies.extend(mine);
        errors.extend(failed);
        warm_up_calls += warming;
    }
    latencies.sort();
    // Counts of a bench fit f64 exactly.
    let per_second = latencies.len() as f64 / seconds.max(1) as f64;
    Ok(Figures {
        calls: latencies.len(),
        all_calls: warm_up_calls + latencies.len() + errors.len(),
        errors: errors.len(),
        first_error: errors.into_iter().next(),
        per_second,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        max_ms: percentile(&latencies, 1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_average_their_mean_and_vary_as_people_do() {
        let mut random = XorShift(7);
        let mean = Duration::from_millis(100);
        let pauses: Vec<f64> = (0..20_000)
            .map(|_| pause(&mut random, mean).as_secs_f64() * 1000.0)
            .collect();
        let average = pauses.iter().sum::<f64>() / pauses.len() as f64;
        assert!((95.0..105.0).contains(&average), "average {average} ms");
        // Exponential: about 37 % of pauses are longer than the mean, and
        // about 5 % longer than three times it (paced ticks: none).
        let longer = |limit: f64| pauses.iter().filter(|p| **p > limit).count() as f64 / 20_000.0;
        assert!((0.34..0.40).contains(&longer(100.0)), "{}", longer(100.0));
        assert!((0.035..0.065).contains(&longer(300.0)), "{}", longer(300.0));
        assert!(pauses.iter().all(|p| *p >= 0.0 && p.is_finite()));
    }
}
