//! Bad input gets a typed error, never a panic; a panicking kernel thread is reported
//! by name and the machine still shuts down cleanly.

use irqkit_core::sched::{KthreadSpec, Policy};
use irqkit_core::{CpuId, CpuMask, Ipi, IrqError};
use irqkit_hosted::{Machine, MachineConfig};

#[test]
fn zero_or_too_many_cpus_is_invalid_argument() {
    assert!(matches!(
        Machine::new(MachineConfig { nr_cpus: 0, hz: 100, ..Default::default() }),
        Err(IrqError::InvalidArgument(_))
    ));
    assert!(matches!(
        Machine::new(MachineConfig { nr_cpus: 257, hz: 100, ..Default::default() }),
        Err(IrqError::InvalidArgument(_))
    ));
}

#[test]
fn run_on_an_unknown_cpu_is_not_found() {
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 100, ..Default::default() }).unwrap();
    assert!(matches!(m.run_on(CpuId(2), |_| ()), Err(IrqError::NotFound(_))));
    assert!(matches!(m.raise(CpuId(9), 0x40), Err(IrqError::NotFound(_))));
}

#[test]
fn ipi_or_interrupt_to_an_offline_cpu_is_refused_and_nothing_is_queued() {
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 100, ..Default::default() }).unwrap();
    m.cpu_down(CpuId(1)).unwrap();
    assert_eq!(m.send_ipi(CpuId(1), Ipi::Reschedule), Err(IrqError::CpuOffline(1)));
    assert_eq!(m.raise(CpuId(1), 0x40), Err(IrqError::CpuOffline(1)));
    assert_eq!(m.raise_nmi(CpuId(1)), Err(IrqError::CpuOffline(1)));
    assert!(matches!(m.run_on(CpuId(1), |_| ()), Err(IrqError::CpuOffline(1))));
    assert!(matches!(m.cpu_down(CpuId(0)), Err(IrqError::Busy(_))), "last online cpu");
    m.cpu_up(CpuId(1)).unwrap();
    assert_eq!(m.run_on(CpuId(1), |_| 7).unwrap(), 7);
}

#[test]
fn bad_thread_specs_and_vectors_are_typed_errors() {
    let m = Machine::new(MachineConfig { nr_cpus: 2, hz: 100, ..Default::default() }).unwrap();
    let bad_prio = KthreadSpec::bound("x", CpuId(0)).policy(Policy::Fifo(0));
    assert!(matches!(m.spawn(bad_prio, |_| ()), Err(IrqError::InvalidArgument(_))));
    let bad_nice = KthreadSpec::bound("x", CpuId(0)).policy(Policy::Normal(20));
    assert!(matches!(m.spawn(bad_nice, |_| ()), Err(IrqError::InvalidArgument(_))));
    let mut spec = KthreadSpec::bound("x", CpuId(0));
    spec.affinity = irqkit_core::sched::Affinity::Unbound(CpuMask::single(CpuId(7)));
    assert!(matches!(m.spawn(spec, |_| ()), Err(IrqError::InvalidArgument(_))));
    assert!(matches!(m.raise(CpuId(0), 0xfd), Err(IrqError::InvalidArgument(_))));
    assert!(matches!(m.set_vector_handler(0x10, |_, _, _| ()), Err(IrqError::InvalidArgument(_))));
}

#[test]
fn panicking_kernel_thread_is_reported_by_name_and_machine_shuts_down() {
    let mut m = Machine::new(MachineConfig { nr_cpus: 2, hz: 100, ..Default::default() }).unwrap();
    let r = m.run_on_with(KthreadSpec::bound("crasher/1", CpuId(1)), |_| -> u32 {
        panic!("driver bug")
    });
    assert_eq!(r, Err(IrqError::Panicked));
    let p = m.panics();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].thread, "crasher/1");
    assert!(p[0].message.contains("driver bug"));
    // The CPU is still usable, and shutdown leaves nothing stuck.
    assert_eq!(m.run_on(CpuId(1), |_| 5).unwrap(), 5);
    assert!(m.shutdown(std::time::Duration::from_secs(10)).is_empty());
}

#[test]
fn run_on_from_inside_the_machine_is_wrong_context() {
    let m = std::sync::Arc::new(
        Machine::new(MachineConfig { nr_cpus: 1, hz: 100, ..Default::default() }).unwrap(),
    );
    let m2 = m.clone();
    let r = m.run_on(CpuId(0), move |_| m2.run_on(CpuId(0), |_| ()).err()).unwrap();
    assert!(matches!(r, Some(IrqError::WrongContext(_))));
}
