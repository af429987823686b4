//! Foundation benchmarks of the hosted machine, each against a baseline in the same run:
//! soft irq mask vs `AtomicBool` swap, raise → handler latency vs eventfd → epoll, and
//! kernel-thread context switch vs a Mutex+Condvar ping-pong.
//!
//! `cargo bench -p irqkit-hosted --bench foundation` (a bench binary: it prints a table).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use irqkit_core::sched::{KthreadSpec, WaitQueue};
use irqkit_core::CpuId;
use irqkit_hosted::{Machine, MachineConfig};

fn pct(v: &mut [u64], p: f64) -> u64 {
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p) as usize]
}

fn irq_mask_pair(m: &Machine) -> (f64, f64) {
    const N: u64 = 20_000_000;
    let sys = m.sys().clone();
    m.run_on(CpuId(0), move |_t| {
        let t0 = Instant::now();
        for _ in 0..N {
            let f = sys.local_irq_save();
            black_box(&f);
            sys.local_irq_restore(f);
        }
        let ours = t0.elapsed().as_nanos() as f64 / N as f64;
        let flag = AtomicBool::new(false);
        let t0 = Instant::now();
        for _ in 0..N {
            let old = flag.swap(true, Ordering::SeqCst);
            black_box(old);
            flag.swap(old, Ordering::SeqCst);
        }
        (ours, t0.elapsed().as_nanos() as f64 / N as f64)
    })
    .unwrap()
}

/// Raise on CPU 0 (a kernel thread) → handler entry on CPU 1, with CPU 1 busy or idle.
fn irq_latency(m: &Arc<Machine>, busy: bool, samples: usize) -> Vec<u64> {
    let entered = Arc::new(AtomicU64::new(0));
    let e = entered.clone();
    m.set_vector_handler(0x60, move |sys, _h, _c| e.store(sys.now_ns(), Ordering::SeqCst)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    if busy {
        let st = stop.clone();
        m.spawn(KthreadSpec::bound("spin/1", CpuId(1)), move |_t| {
            while !st.load(Ordering::Relaxed) {
                std::hint::spin_loop();
            }
        })
        .unwrap();
    }
    let sys = m.sys().clone();
    let mm = m.clone();
    // The raiser is a task on CPU 0; `raise` takes the same path as a device or IPI.
    let lat = m
        .run_on(CpuId(0), move |_t| {
            let mut v = Vec::with_capacity(samples);
            for _ in 0..samples {
                entered.store(0, Ordering::SeqCst);
                let t0 = sys.now_ns();
                mm.raise(CpuId(1), 0x60).unwrap();
                while entered.load(Ordering::SeqCst) == 0 {
                    std::hint::spin_loop();
                }
                v.push(entered.load(Ordering::SeqCst) - t0);
                let t = Instant::now();
                while t.elapsed() < Duration::from_micros(50) {}
            }
            v
        })
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    lat
}

/// eventfd write → a thread blocked in epoll_wait returns (the user-space baseline).
fn eventfd_latency(samples: usize) -> Vec<u64> {
    // SAFETY: plain fd syscalls on fds this function owns and closes.
    unsafe {
        let efd = libc::eventfd(0, libc::EFD_NONBLOCK);
        let ep = libc::epoll_create1(0);
        let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: 0 };
        libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, efd, &mut ev);
        let woke = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let w = woke.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        let h = std::thread::spawn(move || {
            let mut out = [libc::epoll_event { events: 0, u64: 0 }; 1];
            while !st.load(Ordering::SeqCst) {
                if libc::epoll_wait(ep, out.as_mut_ptr(), 1, 100) == 1 {
                    w.store(start.elapsed().as_nanos() as u64, Ordering::SeqCst);
                    let mut buf = 0u64;
                    libc::read(efd, &mut buf as *mut u64 as *mut libc::c_void, 8);
                }
            }
        });
        let mut v = Vec::with_capacity(samples);
        for _ in 0..samples {
            woke.store(0, Ordering::SeqCst);
            let t0 = start.elapsed().as_nanos() as u64;
            let one = 1u64;
            libc::write(efd, &one as *const u64 as *const libc::c_void, 8);
            while woke.load(Ordering::SeqCst) == 0 {
                std::hint::spin_loop();
            }
            v.push(woke.load(Ordering::SeqCst) - t0);
            let t = Instant::now();
            while t.elapsed() < Duration::from_micros(50) {}
        }
        stop.store(true, Ordering::SeqCst);
        h.join().unwrap();
        libc::close(ep);
        libc::close(efd);
        v
    }
}

/// Two kernel threads on CPU 0 hand a token back and forth through wait queues.
fn kthread_pingpong(m: &Machine, rounds: u64) -> f64 {
    let turn = Arc::new(AtomicU64::new(0));
    let wqs = Arc::new([WaitQueue::new(), WaitQueue::new()]);
    let done = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    for side in 0..2u64 {
        let (turn, wqs, done, sys) = (turn.clone(), wqs.clone(), done.clone(), m.sys().clone());
        m.spawn(KthreadSpec::bound(format!("pingpong/{side}"), CpuId(0)), move |task| {
            for r in 0..rounds {
                let my = 2 * r + side;
                wqs[side as usize]
                    .wait_event(&sys, task, || turn.load(Ordering::SeqCst) == my)
                    .unwrap();
                turn.store(my + 1, Ordering::SeqCst);
                wqs[1 - side as usize].wake_all(&sys);
            }
            done.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    while done.load(Ordering::SeqCst) < 2 {
        std::thread::sleep(Duration::from_millis(1));
    }
    t0.elapsed().as_nanos() as f64 / (2 * rounds) as f64
}

fn condvar_pingpong(rounds: u64) -> f64 {
    let pair = Arc::new((Mutex::new(0u64), Condvar::new()));
    let t0 = Instant::now();
    let hs: Vec<_> = (0..2u64)
        .map(|side| {
            let pair = pair.clone();
            std::thread::spawn(move || {
                let (m, cv) = &*pair;
                for r in 0..rounds {
                    let my = 2 * r + side;
                    let mut g = cv.wait_while(m.lock().unwrap(), |t| *t != my).unwrap();
                    *g = my + 1;
                    cv.notify_all();
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    t0.elapsed().as_nanos() as f64 / (2 * rounds) as f64
}

fn main() {
    let samples = 5000;
    let m = Arc::new(
        Machine::new(MachineConfig { nr_cpus: 2, hz: 250, ..Default::default() }).unwrap(),
    );
    let (ours, atomic) = irq_mask_pair(&m);
    println!("local_irq_save+restore pair: {ours:.2} ns, AtomicBool swap pair: {atomic:.2} ns, ratio {:.2}x", ours / atomic);

    let mut idle = irq_latency(&m, false, samples);
    let mut efd = eventfd_latency(samples);
    let mut busy = irq_latency(&m, true, samples);
    // The vector handler holds nothing of the machine; drop the last Arc here.
    drop(m);
    let (ip50, ip99) = (pct(&mut idle, 0.5), pct(&mut idle, 0.99));
    let (bp50, bp99) = (pct(&mut busy, 0.5), pct(&mut busy, 0.99));
    let (ep50, ep99) = (pct(&mut efd, 0.5), pct(&mut efd, 0.99));
    println!(
        "irq latency CPU0 -> CPU1 (idle, futex wake): p50 {:.1} us, p99 {:.1} us",
        ip50 as f64 / 1e3,
        ip99 as f64 / 1e3
    );
    println!(
        "irq latency CPU0 -> CPU1 (busy, signal):     p50 {:.1} us, p99 {:.1} us",
        bp50 as f64 / 1e3,
        bp99 as f64 / 1e3
    );
    println!(
        "eventfd -> epoll_wait baseline:              p50 {:.1} us, p99 {:.1} us",
        ep50 as f64 / 1e3,
        ep99 as f64 / 1e3
    );
    println!(
        "ratio p50 idle/eventfd {:.2}x, busy/eventfd {:.2}x",
        ip50 as f64 / ep50 as f64,
        bp50 as f64 / ep50 as f64
    );

    let m = Machine::new(MachineConfig { nr_cpus: 1, hz: 250, ..Default::default() }).unwrap();
    let k = kthread_pingpong(&m, 50_000);
    drop(m);
    let c = condvar_pingpong(50_000);
    println!("context switch, kthreads on one CPU: {k:.0} ns; Mutex+Condvar ping-pong: {c:.0} ns; ratio {:.2}x", k / c);
}
