//! The highest total interrupt rate the default machine (4 CPUs, GICv3) sustains with
//! p99 raise → hard-irq entry under 200 µs and nothing dropped, against a user-space
//! eventfd + epoll dispatcher doing the same handler work, in the same run.
//!
//! `cargo bench -p irqkit --bench max_rate` (a bench binary: it prints a table).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use irqkit::scenario::model::Scenario;

const P99_LIMIT_NS: u64 = 200_000;
const RATES: [f64; 7] = [2_000.0, 5_000.0, 10_000.0, 20_000.0, 40_000.0, 80_000.0, 160_000.0];
const SECS: f64 = 1.0;
const HANDLER_US: f64 = 1.0;

fn scenario(total_rate: f64) -> Scenario {
    let mut t =
        String::from("[machine]\narch = \"gicv3\"\ncpus = 4\nhz = 1000\n[run]\nduration_s = ");
    t += &format!("{SECS}\nseed = 3\n");
    for q in 0..4 {
        t += &format!(
            "[[device]]\nname = \"q{q}\"\nkind = \"nic\"\nrate_hz = {}\narrival = \"poisson\"\naffinity = [{q}]\nhard_cost_us = {HANDLER_US}\nbottom_half = \"none\"\n",
            total_rate / 4.0
        );
    }
    Scenario::parse(&t).unwrap()
}

/// (p99 ns over the queues, dropped raises, handled/s) for irqkit at `rate`.
fn irqkit_at(rate: f64) -> (u64, u64, f64) {
    let r = irqkit::scenario::run::run(&scenario(rate), false, |_, _| false).unwrap();
    let json = irqkit::scenario::report::to_json(&r);
    let devs = json["devices"].as_array().unwrap();
    let p99 = devs
        .iter()
        .map(|d| (d["raise_to_hardirq"]["p99_us"].as_f64().unwrap() * 1e3) as u64)
        .max()
        .unwrap();
    let dropped = devs.iter().map(|d| d["dropped"].as_u64().unwrap()).sum();
    (p99, dropped, json["interrupts_per_s"].as_f64().unwrap())
}

fn spin_us(us: f64) {
    let end = Instant::now() + Duration::from_secs_f64(us / 1e6);
    while Instant::now() < end {}
}

/// The same load on 4 worker threads each blocked in epoll_wait on its eventfd.
fn eventfd_at(rate: f64) -> (u64, u64, f64) {
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut fds = Vec::new();
    let mut workers = Vec::new();
    let pending: Arc<Vec<AtomicU64>> = Arc::new((0..4).map(|_| AtomicU64::new(0)).collect());
    let lat: Arc<Vec<std::sync::Mutex<Vec<u64>>>> =
        Arc::new((0..4).map(|_| std::sync::Mutex::new(Vec::new())).collect());
    for q in 0..4 {
        // SAFETY: plain fd syscalls on fds this function owns and closes.
        let (efd, ep) = unsafe {
            let efd = libc::eventfd(0, libc::EFD_NONBLOCK);
            let ep = libc::epoll_create1(0);
            let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: 0 };
            libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, efd, &mut ev);
            (efd, ep)
        };
        fds.push((efd, ep));
        let (stop, pending, lat) = (stop.clone(), pending.clone(), lat.clone());
        workers.push(std::thread::spawn(move || {
            let mut out = [libc::epoll_event { events: 0, u64: 0 }; 1];
            while !stop.load(SeqCst) {
                // SAFETY: valid epoll fd and a one-entry buffer.
                if unsafe { libc::epoll_wait(ep, out.as_mut_ptr(), 1, 50) } == 1 {
                    let mut buf = 0u64;
                    // SAFETY: reading 8 bytes from our eventfd into a u64.
                    unsafe { libc::read(efd, &mut buf as *mut u64 as *mut libc::c_void, 8) };
                    let now = start.elapsed().as_nanos() as u64;
                    let ts = pending[q].swap(0, SeqCst);
                    if ts != 0 {
                        lat[q].lock().unwrap().push(now - ts);
                    }
                    spin_us(HANDLER_US);
                }
            }
        }));
    }
    // The raiser: Poisson arrivals per queue, like the scenario's device thread.
    let mut x = 0x9e37_79b9u64;
    let mut next = [0.0f64; 4];
    let mut dropped = 0u64;
    loop {
        let now = start.elapsed().as_secs_f64();
        if now >= SECS {
            break;
        }
        let (q, due) =
            next.iter()
                .enumerate()
                .fold((0, f64::MAX), |a, (i, t)| if *t < a.1 { (i, *t) } else { a });
        if due > now {
            if due - now > 200e-6 {
                std::thread::sleep(Duration::from_secs_f64(due - now - 100e-6));
            }
            continue;
        }
        if now - due > 0.010 {
            dropped += 1;
        } else {
            let ts = start.elapsed().as_nanos() as u64;
            let _ = pending[q].compare_exchange(0, ts.max(1), SeqCst, SeqCst);
            let one = 1u64;
            // SAFETY: writing 8 bytes to our eventfd.
            unsafe { libc::write(fds[q].0, &one as *const u64 as *const libc::c_void, 8) };
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let u = (x >> 11) as f64 / (1u64 << 53) as f64;
        next[q] = due - (1.0 - u).ln() / (rate / 4.0);
    }
    stop.store(true, SeqCst);
    for w in workers {
        w.join().unwrap();
    }
    for (efd, ep) in fds {
        // SAFETY: closing fds we opened.
        unsafe {
            libc::close(ep);
            libc::close(efd);
        }
    }
    let mut all: Vec<u64> = lat.iter().flat_map(|l| l.lock().unwrap().clone()).collect();
    all.sort_unstable();
    let handled = all.len() as f64 / SECS;
    let p99 = all
        .get(((all.len() as f64 * 0.99) as usize).min(all.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0);
    (p99, dropped, handled)
}

fn main() {
    println!(
        "{:>9}  {:>28}  {:>28}",
        "rate/s",
        "irqkit p99 µs / dropped / handled/s",
        "eventfd+epoll p99 µs / dropped / handled/s"
    );
    let (mut best_irqkit, mut best_efd) = (0.0, 0.0);
    for rate in RATES {
        let (p, d, h) = irqkit_at(rate);
        let (ep, ed, eh) = eventfd_at(rate);
        println!(
            "{rate:>9.0}  {:>12.1} / {d:>5} / {h:>8.0}  {:>12.1} / {ed:>5} / {eh:>8.0}",
            p as f64 / 1e3,
            ep as f64 / 1e3
        );
        if p < P99_LIMIT_NS && d == 0 {
            best_irqkit = rate;
        }
        if ep < P99_LIMIT_NS && ed == 0 {
            best_efd = rate;
        }
    }
    println!(
        "highest sustained rate with p99 < 200 µs: irqkit {best_irqkit:.0}/s, eventfd+epoll {best_efd:.0}/s, ratio {:.2}x",
        if best_efd > 0.0 { best_irqkit / best_efd } else { f64::NAN }
    );
}
