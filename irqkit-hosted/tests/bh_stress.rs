//! Bottom halves on the hosted machine under stress: tasklets and irq_work scheduled
//! from hard-irq, NMI and task context on 4 CPUs at random. Every newly queued tasklet
//! or claimed irq_work runs exactly once (none lost, none doubled), and a tasklet never
//! runs on two CPUs at once (kernel/softirq.c tasklet_action_common, kernel/irq_work.c).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use irqkit_core::irq_work::IrqWork;
use irqkit_core::sched::KthreadSpec;
use irqkit_core::tasklet::Tasklet;
use irqkit_core::{CpuId, IrqSystem};
use irqkit_hosted::{Machine, MachineConfig};

const NR: usize = 8;
const SECS: u64 = 10;

struct Books {
    tasklets: Vec<Tasklet>,
    works: Vec<IrqWork>,
    queued_t: AtomicU64,
    queued_w: AtomicU64,
    ran_t: AtomicU64,
    ran_w: AtomicU64,
    running: Vec<AtomicBool>,
    overlaps: AtomicU64,
}

impl Books {
    /// Schedules tasklet/irq_work `k` from whatever context the caller is in.
    fn poke(&self, sys: &IrqSystem, k: usize) {
        if self.tasklets[k % NR].schedule(sys).unwrap() {
            self.queued_t.fetch_add(1, SeqCst);
        }
        if sys.irq_work_queue(&self.works[k % NR]).unwrap() {
            self.queued_w.fetch_add(1, SeqCst);
        }
    }
}

#[test]
fn tasklets_and_irq_work_from_every_context_run_exactly_once_per_queueing() {
    let m = Machine::new(MachineConfig { nr_cpus: 4, hz: 1000, ..Default::default() }).unwrap();
    let books = Arc::new_cyclic(|w: &std::sync::Weak<Books>| {
        let tasklets = (0..NR)
            .map(|i| {
                let w = w.clone();
                Tasklet::new(move |_ctx| {
                    let b = w.upgrade().unwrap();
                    if b.running[i].swap(true, SeqCst) {
                        b.overlaps.fetch_add(1, SeqCst);
                    }
                    for _ in 0..50 {
                        std::hint::spin_loop();
                    }
                    b.running[i].store(false, SeqCst);
                    b.ran_t.fetch_add(1, SeqCst);
                })
            })
            .collect();
        let works = (0..NR)
            .map(|_| {
                let w = w.clone();
                IrqWork::new(move |_sys, _work, _hard| {
                    w.upgrade().unwrap().ran_w.fetch_add(1, SeqCst);
                })
            })
            .collect();
        Books {
            tasklets,
            works,
            queued_t: AtomicU64::new(0),
            queued_w: AtomicU64::new(0),
            ran_t: AtomicU64::new(0),
            ran_w: AtomicU64::new(0),
            running: (0..NR).map(|_| AtomicBool::new(false)).collect(),
            overlaps: AtomicU64::new(0),
        }
    });
    // Hard-irq context: a device vector on every CPU.
    let b = books.clone();
    let seq = Arc::new(AtomicU64::new(0));
    let s = seq.clone();
    m.set_vector_handler(0x70, move |sys, _hard, _cpu| {
        b.poke(sys, s.fetch_add(1, SeqCst) as usize)
    })
    .unwrap();
    // NMI context: lock-free, allocation-free queueing only.
    let b = books.clone();
    let s = seq.clone();
    m.set_nmi_handler(move |sys, _nmi, _cpu| b.poke(sys, s.fetch_add(1, SeqCst) as usize));
    // Task context: a kernel thread per CPU.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    for c in 0..4u32 {
        let (b, st, d, sys, s) =
            (books.clone(), stop.clone(), done.clone(), m.sys().clone(), seq.clone());
        m.spawn(KthreadSpec::bound(format!("poker/{c}"), CpuId(c)), move |_t| {
            while !st.load(SeqCst) {
                b.poke(&sys, s.fetch_add(1, SeqCst) as usize);
                for _ in 0..500 {
                    std::hint::spin_loop();
                }
            }
            d.fetch_add(1, SeqCst);
        })
        .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(SECS);
    let mut n = 0u32;
    while Instant::now() < deadline {
        let cpu = CpuId(n % 4);
        m.raise(cpu, 0x70).unwrap();
        if n.is_multiple_of(8) {
            m.raise_nmi(cpu).unwrap();
        }
        n += 1;
        std::thread::sleep(Duration::from_micros(100));
    }
    stop.store(true, SeqCst);
    common::wait_until("pokers stop", || done.load(SeqCst) == 4);
    // Quiesce: everything queued runs (the tick and ksoftirqd drain what is left).
    common::wait_until("tasklets drained", || {
        books.ran_t.load(SeqCst) == books.queued_t.load(SeqCst)
    });
    common::wait_until("irq_work drained", || {
        books.ran_w.load(SeqCst) == books.queued_w.load(SeqCst)
    });
    // Nothing runs late or twice after the books balanced.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(books.ran_t.load(SeqCst), books.queued_t.load(SeqCst));
    assert_eq!(books.ran_w.load(SeqCst), books.queued_w.load(SeqCst));
    assert_eq!(books.overlaps.load(SeqCst), 0, "a tasklet ran on two CPUs at once");
    assert!(books.queued_t.load(SeqCst) > 1000 && books.queued_w.load(SeqCst) > 1000);
    let softirqs = m.sys().proc_softirqs();
    assert!(softirqs.contains("TASKLET:"));
    drop(m);
}
