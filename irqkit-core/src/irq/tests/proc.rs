//! /proc views (kernel/irq/proc.c, fs/proc/interrupts.c, spec 1.16), compared with
//! lines of the golden captures in shared/reference/golden/.

use super::*;

struct Named(&'static str, ChipCallbacks);

impl IrqChip for Named {
    fn name(&self) -> &str {
        self.0
    }
    fn callbacks(&self) -> ChipCallbacks {
        self.1
    }
    fn set_affinity(
        &self,
        _d: &IrqData,
        m: &CpuMask,
        _f: bool,
    ) -> Result<(SetResult, CpuMask), IrqError> {
        Ok((SetResult::Ok, CpuMask::single(m.first().unwrap())))
    }
}

struct NoMapOps;
impl DomainOps for NoMapOps {}

struct X86Rows;
impl IrqHooks for X86Rows {
    fn arch_show_interrupts(&self, out: &mut String, online: &CpuMask, prec: usize) {
        let counts: Vec<u32> = online.iter().map(|_| 0).collect();
        arch_row(out, "NMI", &counts, prec, "Non-maskable interrupts");
        arch_row(out, "ERR", &[0], prec, "");
    }
}

fn mapped(
    sys: &Arc<IrqSystem>,
    dom: &Arc<IrqDomain>,
    virq: u32,
    hwirq: u64,
    chip: Arc<dyn IrqChip>,
    flow: Option<&'static str>,
) {
    assert_eq!(sys.irq_alloc_descs(virq, 1, true).unwrap(), virq);
    sys.irq_domain_associate(dom, virq, hwirq).unwrap();
    sys.irq_set_chip_and_handler(virq, chip, FlowHandler::Edge).unwrap();
    if let Some(f) = flow {
        sys.irq_to_desc(virq).unwrap().inner.lock_irqsave(sys).set_flow_name(Some(f));
    }
}

// fs/proc/interrupts.c + proc.c show_interrupts: x86 layout (no Level column, flow
// names), golden x86_64-q35-smp4-interrupts.txt rows 1, 2, 9 and arch rows.
#[test]
fn proc_interrupts_matches_x86_golden_shape() {
    let (sys, _p) = machine(4);
    sys.irq.set_hooks(Arc::new(X86Rows));
    let cb = ChipCallbacks::MASK | ChipCallbacks::UNMASK | ChipCallbacks::SET_AFFINITY;
    let ioapic: Arc<dyn IrqChip> = Arc::new(Named("IO-APIC", cb));
    let msi: Arc<dyn IrqChip> = Arc::new(Named("PCI-MSI", cb));
    let dom =
        sys.irq_domain_create("ioapic", RevMap::Tree, Arc::new(NoMapOps), None, None).unwrap();
    mapped(&sys, &dom, 0, 2, ioapic, Some("edge"));
    mapped(&sys, &dom, 24, 49152, msi, Some("edge"));
    let _t = sys.request_irq(0, |_| IrqReturn::HANDLED, Flags::empty(), "timer").unwrap();
    let _v = sys.request_irq(24, |_| IrqReturn::HANDLED, Flags::empty(), "virtio1-config").unwrap();
    for _ in 0..95 {
        fire(&sys, 0);
    }
    let text = sys.show_interrupts();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "           CPU0       CPU1       CPU2       CPU3       ");
    assert_eq!(
        lines[1],
        "  0:         95          0          0          0   IO-APIC   2-edge      timer"
    );
    assert_eq!(
        lines[2],
        " 24:          0          0          0          0   PCI-MSI 49152-edge      virtio1-config"
    );
    assert_eq!(
        lines[3],
        "NMI:          0          0          0          0   Non-maskable interrupts"
    );
    assert_eq!(lines[4], "ERR:          0");
    // Columns follow the *online* CPUs.
    sys.cpu(CpuId(3)).unwrap().set_online(false);
    assert_eq!(
        sys.show_interrupts().lines().next().unwrap(),
        "           CPU0       CPU1       CPU2       "
    );
}

// proc.c show_interrupts with GENERIC_IRQ_SHOW_LEVEL (arm64): golden
// arm64-virt-gicv3-smp4-interrupts.txt, shared actions comma-separated.
#[test]
fn proc_interrupts_matches_arm64_golden_shape() {
    let (sys, _p) = machine(4);
    sys.irq_set_proc_show_level(true);
    let gic: Arc<dyn IrqChip> =
        Arc::new(Named("GICv3", ChipCallbacks::MASK | ChipCallbacks::UNMASK));
    let its: Arc<dyn IrqChip> =
        Arc::new(Named("ITS-MSI", ChipCallbacks::MASK | ChipCallbacks::UNMASK));
    let dom = sys.irq_domain_create("gic", RevMap::Tree, Arc::new(NoMapOps), None, None).unwrap();
    mapped(&sys, &dom, 11, 27, gic, None);
    sys.irq_set_default_trigger(11, Trigger::LEVEL_HIGH).unwrap();
    mapped(&sys, &dom, 19, 32768, its, None);
    let _a = sys.request_irq(11, |_| IrqReturn::HANDLED, Flags::SHARED, "arch_timer").unwrap();
    let _b = sys.request_irq(11, |_| IrqReturn::NONE, Flags::SHARED, "other").unwrap();
    let _c = sys.request_irq(19, |_| IrqReturn::HANDLED, Flags::empty(), "virtio1-config").unwrap();
    let text = sys.show_interrupts();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], " 11:          0          0          0          0     GICv3  27 Level     arch_timer, other");
    assert_eq!(
        lines[2],
        " 19:          0          0          0          0   ITS-MSI 32768 Edge      virtio1-config"
    );
}

// proc.c: smp_affinity / smp_affinity_list / effective_affinity / spurious / node
// formats, writes with Linux's validation; golden x86_64-q35-smp4-proc-irq.txt.
#[test]
fn proc_irq_files_read_and_write_like_linux() {
    let (sys, _p) = machine(4);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Edge);
    let _r = sys.request_irq(irq, |_| IrqReturn::HANDLED, Flags::empty(), "i8042").unwrap();
    let rd = |f: &str| sys.proc_irq_read(irq, ProcIrqFile::from_name(f).unwrap()).unwrap();
    assert_eq!(rd("smp_affinity"), "f\n");
    assert_eq!(rd("smp_affinity_list"), "0-3\n");
    assert_eq!(rd("effective_affinity"), "1\n");
    assert_eq!(rd("effective_affinity_list"), "0\n");
    assert_eq!(rd("affinity_hint"), "0\n");
    assert_eq!(rd("spurious"), "count 0\nunhandled 0\nlast_unhandled 0 ms\n");
    assert_eq!(rd("node"), "0\n");
    assert_eq!(sys.proc_default_smp_affinity(), "f\n");
    assert_eq!(sys.proc_irq_write(irq, ProcIrqFile::SmpAffinity, "c\n").unwrap(), 2);
    assert_eq!((rd("smp_affinity"), rd("effective_affinity_list")), ("c\n".into(), "2\n".into()));
    assert_eq!(sys.proc_irq_write(irq, ProcIrqFile::SmpAffinityList, "1,3").unwrap(), 3);
    assert_eq!(rd("smp_affinity_list"), "1,3\n");
    // Bad input: typed errors, nothing changed.
    assert!(matches!(
        sys.proc_irq_write(irq, ProcIrqFile::SmpAffinity, "zz"),
        Err(IrqError::InvalidArgument(_))
    ));
    assert!(matches!(
        sys.proc_irq_write(irq, ProcIrqFile::SmpAffinity, "10"),
        Err(IrqError::InvalidArgument(_))
    ));
    assert!(matches!(
        sys.proc_irq_write(irq, ProcIrqFile::SmpAffinityList, "0-9"),
        Err(IrqError::InvalidArgument(_))
    ));
    sys.cpu(CpuId(2)).unwrap().set_online(false);
    assert!(matches!(
        sys.proc_irq_write(irq, ProcIrqFile::SmpAffinity, "4"),
        Err(IrqError::InvalidArgument(_))
    ));
    assert!(matches!(
        sys.proc_irq_write(irq, ProcIrqFile::Node, "1"),
        Err(IrqError::WrongContext(_))
    ));
    assert_eq!(rd("smp_affinity_list"), "1,3\n");
    assert!(ProcIrqFile::from_name("bogus").is_err());
    assert!(sys.proc_irq_read(999_999, ProcIrqFile::Node).is_err());
    // Managed lines refuse user affinity (EPERM).
    let m = line(&sys, RecChip::basic(), FlowHandler::Edge);
    sys.irq_set_managed_affinity(m, &CpuMask::single(CpuId(0))).unwrap();
    assert!(matches!(
        sys.proc_irq_write(m, ProcIrqFile::SmpAffinity, "1"),
        Err(IrqError::WrongContext(_))
    ));
    assert!(sys.proc_write_default_smp_affinity("4").is_err());
    assert_eq!(sys.proc_write_default_smp_affinity("3").unwrap(), 1);
    assert_eq!(sys.proc_default_smp_affinity(), "3\n");
}

// fs/proc/stat.c show_stat: "intr <sum> <per irq>" from irq 0 up to nr_irqs.
#[test]
fn proc_stat_intr_line() {
    let (sys, _p) = machine(2);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Edge);
    assert_eq!(irq, 1);
    let _r = sys.request_irq(irq, |_| IrqReturn::HANDLED, Flags::empty(), "x").unwrap();
    fire(&sys, irq);
    FakePlatform::enter_cpu(CpuId(1));
    fire(&sys, irq);
    let s = sys.show_stat_intr();
    assert!(s.starts_with("intr 2 0 2 0"), "{s}");
    assert_eq!(s.split(' ').count(), 2 + NR_IRQS_LEGACY as usize);
}

// proc.c register_handler_proc: one directory per uniquely named action; golden
// x86_64-q35-smp4-proc-irq.txt "--- ls /proc/irq/1".
#[test]
fn proc_irq_ls_lists_files_and_unique_handler_dirs() {
    let (sys, _p) = machine(4);
    let irq = line(&sys, RecChip::basic(), FlowHandler::Edge);
    let _a = sys.request_irq(irq, |_| IrqReturn::HANDLED, Flags::SHARED, "i8042").unwrap();
    let golden = "affinity_hint\neffective_affinity\neffective_affinity_list\ni8042\nnode\nsmp_affinity\nsmp_affinity_list\nspurious";
    assert_eq!(sys.proc_irq_ls(irq).unwrap().join("\n"), golden);
    let _b = sys.request_irq(irq, |_| IrqReturn::HANDLED, Flags::SHARED, "i8042").unwrap();
    assert!(
        !sys.proc_irq_ls(irq).unwrap().contains(&"i8042".to_string()),
        "duplicate names get no dir"
    );
    let bare = sys.irq_alloc_descs(1, 1, false).unwrap();
    assert!(sys.proc_irq_ls(bare).is_err(), "no /proc/irq entry without a chip");
}
