//! irqkit-kernel-x86: a bare-metal x86_64 image that runs irqkit-core on QEMU's APICs.
//!
//! Boot order (details in README.md): multiboot `_start` ([`boot`]) → long mode →
//! [`kmain`]: heap, COM1, per-CPU area, GDT/TSS/IST, IDT, local APIC, TSC calibration,
//! 8259s masked, ACPI MADT → `IrqSystem` → `swapper/0` → clock event ([`clockevent`])
//! → APs ([`smp`]) → x86 irq domains ([`x86irq`]) → `IrqHooks`, ksoftirqd, workqueues, COM1 and the
//! PS/2 keyboard requested as threaded ONESHOT irqs ([`devices`]) → the self-test
//! ([`selftest`]), the cyclictest measurement ([`cyclictest`]) or the serial shell
//! ([`shell`]).
#![no_std]
#![no_main]
#![warn(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

extern crate alloc;

mod acpi;
mod arch;
mod boot;
mod clockevent;
mod cyclictest;
mod devices;
mod edu;
mod fmtbuf;
mod gdt;
mod heap;
mod i8042;
mod idt;
mod irq;
mod irq_hooks;
mod lapic;
mod mem;
mod mmio;
mod pci;
mod pci_msi;
mod percpu;
mod pic;
mod platform;
mod selftest;
mod selftest_bh;
mod selftest_devices;
mod selftest_heap;
mod selftest_msi;
mod selftest_nohz;
mod selftest_proc;
mod selftest_sched;
mod selftest_storm;
mod selftest_timer;
mod selftest_wq;
mod serial;
mod shell;
mod smp;
mod switch;
mod tick_sched;
mod timer_trace;
mod traps;
mod virtio_rng;
mod x86irq;

use core::sync::atomic::{AtomicU64, Ordering};

use irqkit_core::CpuId;

/// Tick rate: Debian's CONFIG_HZ_250, gentle on a TCG host with 8 virtual CPUs.
pub const HZ: u32 = 250;
const MULTIBOOT_MAGIC: u32 = 0x2BAD_B002;
/// isa-debug-exit value for a passed self-test (QEMU exits with 2*0x10+1 = 33).
pub const EXIT_PASS: u32 = 0x10;
/// isa-debug-exit value for a failure (QEMU exits with 35).
pub const EXIT_FAIL: u32 = 0x11;

/// Leaves QEMU with the failure code.
pub fn fail_exit() -> ! {
    arch::qemu_exit(EXIT_FAIL)
}

/// True if the multiboot command line contains `word`.
fn cmdline_has(info: u32, word: &str) -> bool {
    if info == 0 {
        return false;
    }
    // SAFETY: `info` is the multiboot information structure the loader passed (in low,
    // identity-mapped memory); flags bit 2 says `cmdline` (offset 16) is a valid
    // physical address of a NUL-terminated string.
    unsafe {
        let flags = (info as usize as *const u32).read_volatile();
        if flags & (1 << 2) == 0 {
            return false;
        }
        let p = ((info as usize + 16) as *const u32).read_volatile() as usize as *const u8;
        let mut len = 0;
        while len < 4096 && p.add(len).read_volatile() != 0 {
            len += 1;
        }
        let line = core::slice::from_raw_parts(p, len);
        line.windows(word.len()).any(|w| w == word.as_bytes())
    }
}

/// TSC at `kmain`'s first instruction: the origin of the boot-time figure.
static KMAIN_TSC: AtomicU64 = AtomicU64::new(0);

/// Microseconds since `kmain` began, by the calibrated TSC (boot-time report).
pub fn boot_elapsed_us() -> u64 {
    let d = arch::rdtsc().saturating_sub(KMAIN_TSC.load(Ordering::Relaxed));
    (d as u128 * 1000 / lapic::tsc_per_ms().max(1) as u128) as u64
}

/// The bootstrap CPU's Rust entry, called by `boot_long_mode`.
#[no_mangle]
extern "C" fn kmain(magic: u32, info: u32) -> ! {
    KMAIN_TSC.store(arch::rdtsc(), Ordering::Relaxed);
    heap::init();
    serial::init();
    kprintln!("irqkit-kernel-x86: booting (multiboot magic {:#x})", magic);
    if magic != MULTIBOOT_MAGIC {
        kprintln!("not started by a multiboot loader");
        fail_exit();
    }
    percpu::install(0);
    let bsp_apic = lapic::id();
    percpu::area(0).apic_id.store(bsp_apic, Ordering::Relaxed);
    gdt::init_cpu(0);
    idt::init();
    idt::load();
    // The 8259s go quiet first, as in Linux (init_ISA_irqs before setup_local_APIC):
    // their output dropping while LINT0 is still the BIOS's ExtINT withdraws a PIT
    // interrupt QEMU would otherwise still present after LINT0 is masked (as vector -1).
    pic::mask_8259();
    lapic::init_cpu(true);
    lapic::calibrate_tsc();
    kprintln!(
        "tsc: {} kHz; timer: {}",
        lapic::tsc_per_ms(),
        if lapic::tsc_deadline_mode() { "TSC-deadline" } else { "LAPIC count (periodic backstop)" }
    );

    if cmdline_has(info, "nohz=off") {
        tick_sched::disable();
    }
    kprintln!(
        "nohz: tickless idle {}",
        if cmdline_has(info, "nohz=off") { "off (nohz=off)" } else { "on" }
    );

    let mut ids = acpi::cpu_apic_ids();
    ids.retain(|&id| id != bsp_apic);
    ids.insert(0, bsp_apic);
    ids.truncate(percpu::MAX_CPUS);
    kprintln!("acpi: {} CPUs, APIC ids {:?}", ids.len(), ids.as_slice());

    if let Err(e) = platform::init(ids.len(), HZ) {
        kprintln!("IrqSystem::new failed: {}", e);
        fail_exit();
    }
    let sys = platform::system();
    if let Ok(c) = sys.cpu(CpuId(0)) {
        c.set_online(true);
    }
    become_idle_thread(0);
    percpu::area(0).online.store(true, Ordering::Release);
    clockevent::start(0, HZ);
    arch::hw_irq_restore(true);

    let online = smp::start_aps(&ids);
    kprintln!("smp: {} of {} CPUs online", online, ids.len());
    // The vector matrix and the IO-APIC / PCI-MSI domains, over every online CPU; the
    // storm test's vector stays the kernel's.
    match x86irq::init(platform::system(), online, &[selftest_storm::STORM_VECTOR]) {
        Ok(pins) => kprintln!("io-apic: {} pins (all masked)", pins),
        Err(e) => {
            kprintln!("setting up the x86 irq domains failed: {}", e);
            fail_exit();
        }
    }

    // Bottom halves and the generic IRQ layer's services, then the device lines. COM1
    // goes to the last CPU, so the serial test also proves IO-APIC delivery to an AP.
    irq_hooks::install();
    let sys_arc = platform::system_arc();
    if let Err(e) = sys_arc.start_ksoftirqd().and_then(|_| sys_arc.start_irq_work_threads()) {
        kprintln!("starting ksoftirqd/N and irq_work/N failed: {}", e);
        fail_exit();
    }
    // Per-CPU kworker pools and the system workqueues (COM1's hard handler queues on
    // `system_percpu_wq`). No work guard: panic = "abort" stops the machine anyway.
    if let Err(e) = sys_arc.workqueue_init() {
        kprintln!("workqueue_init failed: {}", e);
        fail_exit();
    }
    let target = online - 1;
    let keyboard = i8042::init();
    if !keyboard {
        kprintln!("i8042: no PS/2 controller answered; keyboard disabled");
    }
    if let Err(e) = devices::init(target, keyboard) {
        kprintln!("requesting the IO-APIC lines failed: {}", e);
        fail_exit();
    }
    match edu::probe() {
        Ok(Some(e)) => {
            kprintln!("pci: edu at 00:{:02x}.{} on MSI, irq {}", e.dev.dev, e.dev.func, e.irq)
        }
        Ok(None) => kprintln!("pci: no edu device"),
        Err(e) => kprintln!("pci: edu probe failed: {}", e),
    }
    match virtio_rng::probe() {
        Ok(Some(v)) => kprintln!(
            "pci: virtio-rng at 00:{:02x}.{} on MSI-X, irq {}",
            v.dev.dev,
            v.dev.func,
            v.irq
        ),
        Ok(None) => kprintln!("pci: no virtio-rng device"),
        Err(e) => kprintln!("pci: virtio-rng probe failed: {}", e),
    }

    if cmdline_has(info, "selftest") {
        selftest::run(online, target)
    } else if cmdline_has(info, "cyclictest") {
        cyclictest::run()
    } else {
        shell::run()
    }
}

/// An application processor's Rust entry, called by `ap_long_entry`.
#[no_mangle]
extern "C" fn ap_main(cpu: u32) -> ! {
    let cpu = cpu as usize;
    percpu::install(cpu);
    let area = percpu::area(cpu);
    area.apic_id.store(lapic::id(), Ordering::Relaxed);
    gdt::init_cpu(cpu);
    idt::load();
    lapic::init_cpu(false);
    let sys = platform::system();
    if let Ok(c) = sys.cpu(CpuId(cpu as u32)) {
        c.set_online(true);
    }
    become_idle_thread(cpu);
    clockevent::start(cpu, HZ);
    area.online.store(true, Ordering::Release);
    arch::hw_irq_restore(true);
    // The core's `cpu_idle_loop`, plus the self-test's turn-taking hook.
    let me = CpuId(cpu as u32);
    loop {
        selftest::ap_poll(cpu);
        platform::idle_once(sys, me);
    }
}

/// Makes the calling boot context CPU `cpu`'s idle thread (`swapper/N`).
fn become_idle_thread(cpu: usize) {
    match platform::system().init_idle(CpuId(cpu as u32)) {
        Ok(_) => percpu::area(cpu).sched_ready.store(true, Ordering::Release),
        Err(e) => {
            kprintln!("init_idle({}) failed: {}", cpu, e);
            fail_exit();
        }
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    kprintln!("panic on CPU {}: {}", percpu::this_cpu(), info);
    fail_exit()
}
