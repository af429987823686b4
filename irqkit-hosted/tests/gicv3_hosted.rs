//! The GICv3 model as the hosted machine's controller, end to end on 4 CPUs: device
//! line → distributor → redistributor/CPU interface → `gic_handle_irq` → flow →
//! handler → EOI (drivers/irqchip/irq-gic-v3.c semantics, arm64 entry).

mod common;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;

use irqkit_chips::mmio::Mmio;
use irqkit_core::irq::{Flags, IrqReturn};
use irqkit_core::{CpuId, CpuMask};
use irqkit_hosted::gicv3::GIC_EDGE_RISING;
use irqkit_hosted::{Machine, MachineConfig};

#[test]
fn spis_routed_to_each_cpu_are_taken_there_exactly_once_per_pulse() {
    let m = Machine::new(MachineConfig { nr_cpus: 4, hz: 250, ..Default::default() }).unwrap();
    let gic = m.attach_gicv3(false).unwrap();
    let sys = m.sys().clone();
    let mut regs = Vec::new();
    let hits: Arc<Vec<AtomicU64>> = Arc::new((0..4).map(|_| AtomicU64::new(0)).collect());
    let wrong_cpu = Arc::new(AtomicU32::new(0));
    for c in 0..4u32 {
        let virq = gic.map_spi(&sys, 8 + c, GIC_EDGE_RISING).unwrap();
        sys.irq_set_affinity(virq, &CpuMask::single(CpuId(c))).unwrap();
        let (h, w, s2) = (hits.clone(), wrong_cpu.clone(), sys.clone());
        regs.push(
            sys.request_irq(
                virq,
                move |_hard| {
                    if s2.current_cpu() != Some(CpuId(c)) {
                        w.fetch_add(1, SeqCst);
                    }
                    h[c as usize].fetch_add(1, SeqCst);
                    IrqReturn::HANDLED
                },
                Flags::empty(),
                &format!("spi{c}"),
            )
            .unwrap(),
        );
    }
    for round in 1..=200u64 {
        for c in 0..4u32 {
            gic.set_spi(8 + c, true).unwrap();
            gic.set_spi(8 + c, false).unwrap();
        }
        common::wait_until("pulses handled", || hits.iter().all(|h| h.load(SeqCst) == round));
    }
    assert_eq!(wrong_cpu.load(SeqCst), 0, "an SPI was taken on a CPU it is not routed to");
    let text = sys.show_interrupts();
    assert!(text.contains("GICv3") && text.contains("spi3"), "{text}");
    drop(regs);
}

#[test]
fn threaded_oneshot_spi_keeps_the_line_masked_until_the_thread_ran() {
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 250, ..Default::default() }).unwrap();
    let gic = m.attach_gicv3(false).unwrap();
    let sys = m.sys().clone();
    let virq = gic.map_spi(&sys, 3, GIC_EDGE_RISING).unwrap();
    sys.irq_set_affinity(virq, &CpuMask::single(CpuId(1))).unwrap();
    let (hard_runs, thread_runs) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (h, t) = (hard_runs.clone(), thread_runs.clone());
    let reg = sys
        .request_threaded_irq(
            virq,
            Some(Box::new(move |_hard| {
                h.fetch_add(1, SeqCst);
                IrqReturn::WAKE_THREAD
            })),
            Some(Box::new(move |_task| {
                t.fetch_add(1, SeqCst);
                IrqReturn::HANDLED
            })),
            Flags::ONESHOT,
            "uart",
        )
        .unwrap();
    for i in 1..=100u64 {
        gic.set_spi(3, true).unwrap();
        gic.set_spi(3, false).unwrap();
        common::wait_until("thread ran", || thread_runs.load(SeqCst) == i);
    }
    assert_eq!(hard_runs.load(SeqCst), 100);
    assert!(sys.threads().iter().any(|t| t.name() == format!("irq/{virq}-uart")));
    drop(reg);
}

#[test]
fn msi_through_the_its_arrives_as_an_lpi_on_the_target_cpu() {
    // drivers/irqchip/irq-gic-v3-its.c: MAPD/MAPTI at allocation, INV on unmask, MOVI
    // on affinity; the device's write to GITS_TRANSLATER becomes an LPI.
    let m = Machine::new(MachineConfig { nr_cpus: 4, hz: 250, ..Default::default() }).unwrap();
    let gic = m.attach_gicv3(true).unwrap();
    let sys = m.sys().clone();
    let first = gic.msi_alloc(&sys, 0x10, 4).unwrap();
    let hits: Arc<Vec<AtomicU64>> = Arc::new((0..4).map(|_| AtomicU64::new(0)).collect());
    let wrong = Arc::new(AtomicU32::new(0));
    let mut regs = Vec::new();
    for q in 0..4u32 {
        let virq = first + q;
        let (h, w, s2) = (hits.clone(), wrong.clone(), sys.clone());
        regs.push(
            sys.request_irq(
                virq,
                move |_| {
                    if s2.current_cpu() != Some(CpuId(q)) {
                        w.fetch_add(1, SeqCst);
                    }
                    h[q as usize].fetch_add(1, SeqCst);
                    IrqReturn::HANDLED
                },
                Flags::empty(),
                &format!("eth0-q{q}"),
            )
            .unwrap(),
        );
        sys.irq_set_affinity(virq, &CpuMask::single(CpuId(q))).unwrap();
    }
    for round in 1..=100u64 {
        for q in 0..4 {
            gic.msi_write(first + q).unwrap();
        }
        common::wait_until("MSIs handled", || hits.iter().all(|h| h.load(SeqCst) == round));
    }
    assert_eq!(wrong.load(SeqCst), 0);
    assert!(sys.show_interrupts().contains("eth0-q3"));
    drop(regs);
}

#[test]
fn gicv2_spis_reach_their_target_cpus() {
    // drivers/irqchip/irq-gic.c: ITARGETSR routing, IAR loop in gic_handle_irq.
    let m = Machine::new(MachineConfig { nr_cpus: 4, hz: 250, ..Default::default() }).unwrap();
    let gic = m.attach_gicv2().unwrap();
    let sys = m.sys().clone();
    let hits: Arc<Vec<AtomicU64>> = Arc::new((0..4).map(|_| AtomicU64::new(0)).collect());
    let wrong = Arc::new(AtomicU32::new(0));
    let mut regs = Vec::new();
    for c in 0..4u32 {
        let virq = gic.map_spi(&sys, 2 + c, GIC_EDGE_RISING).unwrap();
        sys.irq_set_affinity(virq, &CpuMask::single(CpuId(c))).unwrap();
        let (h, w, s2) = (hits.clone(), wrong.clone(), sys.clone());
        regs.push(
            sys.request_irq(
                virq,
                move |_| {
                    if s2.current_cpu() != Some(CpuId(c)) {
                        w.fetch_add(1, SeqCst);
                    }
                    h[c as usize].fetch_add(1, SeqCst);
                    IrqReturn::HANDLED
                },
                Flags::empty(),
                &format!("v2-{c}"),
            )
            .unwrap(),
        );
    }
    for round in 1..=100u64 {
        for c in 0..4 {
            gic.set_spi(2 + c, true).unwrap();
            gic.set_spi(2 + c, false).unwrap();
        }
        common::wait_until("GICv2 pulses handled", || hits.iter().all(|h| h.load(SeqCst) == round));
    }
    assert_eq!(wrong.load(SeqCst), 0);
    assert!(sys.show_interrupts().contains("GIC-0"));
    drop(regs);
}

#[test]
fn arm64_arch_rows_have_linux_layout_on_a_gic_machine() {
    // arch/arm64/kernel/smp.c arch_show_interrupts: IPI0..IPI6 then Err, in the same
    // columns as Linux 6.1 on QEMU virt (the golden file), for 4 CPUs.
    let m = Machine::new(MachineConfig { nr_cpus: 4, hz: 250, ..Default::default() }).unwrap();
    let _gic = m.attach_gicv3(false).unwrap();
    let ours = m.sys().show_interrupts();
    let golden = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/reference/golden/arm64-virt-gicv3-smp4-interrupts.txt"
    ));
    let Ok(golden) = golden else {
        eprintln!("skipped: ../shared/reference/golden not beside the repository");
        return;
    };
    let shape = |l: &str| {
        // Columns of every field boundary, with digits replaced: the layout, not values.
        l.chars().map(|c| if c.is_ascii_digit() { '9' } else { c }).collect::<String>()
    };
    for label in ["IPI0:", "IPI5:", "IPI6:", "Err:"] {
        let g = golden.lines().find(|l| l.starts_with(label)).unwrap();
        let o = ours.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("{ours}"));
        let (gs, os) = (shape(g), shape(o));
        // Same description column, and every count ends where Linux's does.
        let desc = |s: &str| s[label.len()..].find(char::is_alphabetic);
        assert_eq!(desc(&gs), desc(&os), "{label}");
        let ends = |s: &str| {
            let b = s.as_bytes();
            (label.len()..b.len())
                .filter(|i| b[*i] == b'9' && b.get(i + 1) != Some(&b'9'))
                .collect::<Vec<_>>()
        };
        assert_eq!(ends(&gs), ends(&os), "{label}");
        assert_eq!(g.split_whitespace().last(), o.split_whitespace().last(), "{label}");
    }
}

#[test]
fn arch_timer_ppi_drives_the_tick_on_every_cpu() {
    // drivers/clocksource/arm_arch_timer.c: a per-CPU-devid PPI requested with
    // request_percpu_irq and enabled on each CPU; the tick runs from its handler.
    let m = Machine::new(MachineConfig { nr_cpus: 4, hz: 250, ..Default::default() }).unwrap();
    let gic = m.attach_gicv3(false).unwrap();
    let reg = m.use_gic_arch_timer(&gic).unwrap();
    let sys = m.sys().clone();
    let j0 = sys.jiffies();
    common::wait_until("jiffies advance through the arch timer", || sys.jiffies() >= j0 + 10);
    let text = sys.show_interrupts();
    let line = text.lines().find(|l| l.ends_with("arch_timer")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("GICv3  27 Level"), "{line}");
    common::wait_until("every CPU ticked through the PPI", || {
        let t = sys.show_interrupts();
        let l = t.lines().find(|l| l.ends_with("arch_timer")).unwrap().to_string();
        l.split_whitespace().skip(1).take(4).all(|c| c != "0")
    });
    drop(reg);
}

#[test]
fn arch_timer_freed_while_ticking_masks_itself_on_every_cpu_and_shutdown_is_prompt() {
    // manage.c __free_percpu_irq only warns about CPUs that still have the line
    // enabled; chip.c handle_percpu_devid_irq then masks it on each CPU whose next
    // interrupt finds no action. Freeing once masked the caller's PPI "for" the other
    // CPUs, so their level PPIs stayed asserted and those CPUs re-took the GIC
    // vector forever: shutdown found them stuck.
    let mut m = Machine::new(MachineConfig { nr_cpus: 4, hz: 250, ..Default::default() }).unwrap();
    let gic = m.attach_gicv3(false).unwrap();
    let reg = m.use_gic_arch_timer(&gic).unwrap();
    let sys = m.sys().clone();
    let virq = gic.map_ppi(&sys, 11, irqkit_hosted::gicv3::GIC_LEVEL_HIGH).unwrap();
    let counts = || (0..4).map(|c| sys.kstat_irqs_cpu(virq, CpuId(c))).collect::<Vec<_>>();
    // GICR_ISENABLER0 in CPU c's SGI frame: bit 27 is the timer PPI's enable.
    let enabled = |c: u32| {
        let off = c as usize * 0x20000 + irqkit_chips::gic::v3_redist::GICR_SGI_BASE + 0x100;
        gic.model().redist_view(c).read32(off) & (1 << 27) != 0
    };
    common::wait_until("every CPU ticked through the PPI", || counts().iter().all(|&n| n > 0));
    // Sampled before the free: a CPU may take its last PPI at any moment after it,
    // however long this thread is kept off the host CPU.
    let before = counts();
    drop(reg);
    // Each CPU masks its own PPI when its next one finds no action left, and that
    // PPI is counted: the mask on every CPU proves each took one more.
    common::wait_until("every CPU masked its PPI at its next tick", || !(0..4).any(enabled));
    let after = counts();
    assert!(after.iter().zip(&before).all(|(a, b)| a > b), "{before:?} -> {after:?}");
    let stuck = m.shutdown(std::time::Duration::from_secs(5));
    assert!(stuck.is_empty(), "threads stuck at shutdown: {stuck:?}");
}
