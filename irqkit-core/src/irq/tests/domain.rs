//! Domains (kernel/irq/irqdomain.c, spec 1.17).

use super::*;
use std::sync::atomic::Ordering::SeqCst;

struct PlainOps {
    chip: Arc<RecChip>,
}

impl DomainOps for PlainOps {
    fn map(&self, sys: &IrqSystem, _d: &IrqDomain, virq: u32, _hw: u64) -> Result<(), IrqError> {
        sys.irq_set_chip_and_handler(virq, self.chip.clone(), FlowHandler::FastEoi)
    }
}

// irqdomain.c irq_create_mapping: an existing mapping returns the same virq; lookups
// via the linear revmap; generic_handle_domain_irq dispatches.
#[test]
fn linear_domain_maps_once_and_dispatches() {
    let (sys, _p) = machine(1);
    let chip = RecChip::basic();
    let dom = sys
        .irq_domain_create("GIC", RevMap::Linear(64), Arc::new(PlainOps { chip }), None, None)
        .unwrap();
    let v = sys.irq_create_mapping(Some(&dom), 33).unwrap();
    assert_eq!(sys.irq_create_mapping(Some(&dom), 33).unwrap(), v);
    assert_eq!(sys.irq_find_mapping(&dom, 33), Some(v));
    assert_eq!(dom.mapcount(), 1);
    let (n, h) = counting(IrqReturn::HANDLED);
    let r = sys.request_irq(v, h, Flags::empty(), "uart").unwrap();
    let f = sys.local_irq_save();
    let ctx = sys.irq_enter();
    sys.generic_handle_domain_irq(&dom, 33, &ctx).unwrap();
    assert!(matches!(sys.generic_handle_domain_irq(&dom, 34, &ctx), Err(IrqError::NotFound(_))));
    sys.irq_exit(ctx);
    sys.local_irq_restore(f);
    assert_eq!(n.load(SeqCst), 1);
    assert!(matches!(sys.irq_dispose_mapping(v), Err(IrqError::Busy(_))));
    drop(r);
    sys.irq_dispose_mapping(v).unwrap();
    assert_eq!(sys.irq_find_mapping(&dom, 33), None);
    assert!(sys.irq_to_desc(v).is_err());
    assert!(matches!(sys.irq_create_mapping(Some(&dom), 64), Err(IrqError::InvalidArgument(_))));
    assert!(matches!(sys.irq_create_mapping(None, 1), Err(IrqError::NotFound(_))));
}

// irqdomain.c: a tree domain maps any hwirq.
#[test]
fn tree_domain_maps_sparse_hwirqs() {
    let (sys, _p) = machine(1);
    let dom = sys
        .irq_domain_create(
            "MSI",
            RevMap::Tree,
            Arc::new(PlainOps { chip: RecChip::basic() }),
            None,
            None,
        )
        .unwrap();
    let v = sys.irq_create_mapping(Some(&dom), 1 << 40).unwrap();
    assert_eq!(sys.irq_find_mapping(&dom, 1 << 40), Some(v));
    assert_eq!(sys.irq_find_mapping(&dom, 7), None);
}

// irqdomain.c irq_create_fwspec_mapping: twocell xlate stores the type; a conflicting
// type for an existing mapping is refused.
#[test]
fn fwspec_mapping_translates_type_and_refuses_mismatch() {
    let (sys, _p) = machine(1);
    let dom = sys
        .irq_domain_create(
            "GIC",
            RevMap::Linear(32),
            Arc::new(PlainOps { chip: RecChip::basic() }),
            None,
            None,
        )
        .unwrap();
    let v = sys.irq_create_fwspec_mapping(&dom, &[5, 4]).unwrap();
    assert_eq!(sys.irq_to_desc(v).unwrap().trigger(), Trigger::LEVEL_HIGH);
    assert_eq!(sys.irq_create_fwspec_mapping(&dom, &[5]).unwrap(), v);
    assert!(matches!(sys.irq_create_fwspec_mapping(&dom, &[5, 1]), Err(IrqError::Busy(_))));
    assert!(sys.irq_create_fwspec_mapping(&dom, &[]).is_err());
    assert_eq!(xlate_twocell(&[9, 0x13]).unwrap(), (9, Trigger::EDGE_BOTH));
}

/// A level of an MSI → ITS → GIC hierarchy: allocates its hwirq and recurses.
struct Level {
    name: &'static str,
    base: u64,
    chip: Arc<RecChip>,
    log: Arc<Mutex<Vec<String>>>,
}

impl DomainOps for Level {
    fn alloc(
        &self,
        sys: &IrqSystem,
        d: &Arc<IrqDomain>,
        virq: u32,
        nr: u32,
        arg: &[u32],
    ) -> Result<(), IrqError> {
        for i in 0..nr {
            sys.irq_domain_set_hwirq_and_chip(
                d,
                virq + i,
                self.base + arg[0] as u64 + i as u64,
                self.chip.clone(),
                None,
            )?;
        }
        if d.parent().is_some() {
            sys.irq_domain_alloc_irqs_parent(d, virq, nr, arg)?;
        } else {
            for i in 0..nr {
                sys.irq_set_handler(virq + i, FlowHandler::FastEoi)?;
            }
        }
        Ok(())
    }
    fn free(&self, sys: &IrqSystem, d: &IrqDomain, virq: u32, nr: u32) {
        self.log.lock().unwrap().push(format!("free {}", self.name));
        sys.irq_domain_free_irqs_parent(d, virq, nr);
    }
    fn activate(&self, _d: &IrqDomain, _l: &IrqData) -> Result<(), IrqError> {
        self.log.lock().unwrap().push(format!("activate {}", self.name));
        Ok(())
    }
    fn deactivate(&self, _d: &IrqDomain, _l: &IrqData) {
        self.log.lock().unwrap().push(format!("deactivate {}", self.name));
    }
}

// irqdomain.c __irq_domain_alloc_irqs / irq_domain_activate_irq: allocation
// outermost-first, activation innermost-first, deactivation outermost-first.
#[test]
fn hierarchy_msi_its_gic_allocates_and_activates_in_order() {
    let (sys, _p) = machine(1);
    let log = Arc::new(Mutex::new(Vec::new()));
    let mk = |name, base| Arc::new(Level { name, base, chip: RecChip::basic(), log: log.clone() });
    let gic =
        sys.irq_domain_create("GICv3", RevMap::Linear(16384), mk("gic", 8192), None, None).unwrap();
    let its = sys
        .irq_domain_create("ITS", RevMap::Tree, mk("its", 8192), Some(gic.clone()), None)
        .unwrap();
    let msi = sys
        .irq_domain_create("ITS-MSI", RevMap::Tree, mk("msi", 32768), Some(its.clone()), None)
        .unwrap();
    let v = sys.irq_domain_alloc_irqs(&msi, 2, &[0]).unwrap();
    assert_eq!(sys.irq_find_mapping(&msi, 32769), Some(v + 1));
    assert_eq!(sys.irq_find_mapping(&gic, 8192), Some(v));
    {
        let g = sys.irq_to_desc(v).unwrap().inner.lock_irqsave(&sys);
        let hw: Vec<u64> =
            std::iter::successors(Some(&g.data), |d| d.parent()).map(|d| d.hwirq).collect();
        assert_eq!(hw, [32768, 8192, 8192]);
    }
    let r = sys.request_irq(v, |_| IrqReturn::HANDLED, Flags::empty(), "virtio0").unwrap();
    assert_eq!(*log.lock().unwrap(), ["activate gic", "activate its", "activate msi"]);
    log.lock().unwrap().clear();
    drop(r);
    sys.irq_domain_free_irqs(v, 2).unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        ["deactivate msi", "deactivate its", "deactivate gic", "free msi", "free its", "free gic"]
    );
    assert_eq!(sys.irq_find_mapping(&msi, 32768), None);
    assert_eq!(gic.mapcount(), 0);
}

// A chained controller: a GPIO block behind one GIC SPI demultiplexes its pending
// bits through generic_handle_domain_irq (chip.c irq_set_chained_handler).
#[test]
fn chained_gpio_controller_behind_a_gic_spi() {
    let (sys, _p) = machine(1);
    let gic = sys
        .irq_domain_create(
            "GIC",
            RevMap::Linear(64),
            Arc::new(PlainOps { chip: RecChip::basic() }),
            None,
            None,
        )
        .unwrap();
    let gpio = sys
        .irq_domain_create(
            "gpio",
            RevMap::Linear(32),
            Arc::new(PlainOps { chip: RecChip::basic() }),
            None,
            None,
        )
        .unwrap();
    let spi = sys.irq_create_mapping(Some(&gic), 40).unwrap();
    let pending = Arc::new(std::sync::atomic::AtomicU32::new(0b1010));
    let (g2, p2) = (gpio.clone(), pending.clone());
    sys.irq_set_chained_handler(
        spi,
        Arc::new(move |s: &IrqSystem, _d: &IrqDesc, ctx: &crate::HardIrq| {
            let bits = p2.swap(0, SeqCst);
            for b in 0..32 {
                if bits & (1 << b) != 0 {
                    let _ = s.generic_handle_domain_irq(&g2, b, ctx);
                }
            }
        }),
    )
    .unwrap();
    let v1 = sys.irq_create_mapping(Some(&gpio), 1).unwrap();
    let v3 = sys.irq_create_mapping(Some(&gpio), 3).unwrap();
    let (n1, h1) = counting(IrqReturn::HANDLED);
    let (n3, h3) = counting(IrqReturn::HANDLED);
    let _r1 = sys.request_irq(v1, h1, Flags::empty(), "button").unwrap();
    let _r3 = sys.request_irq(v3, h3, Flags::empty(), "lid").unwrap();
    let f = sys.local_irq_save();
    let ctx = sys.irq_enter();
    sys.generic_handle_domain_irq(&gic, 40, &ctx).unwrap();
    sys.irq_exit(ctx);
    sys.local_irq_restore(f);
    assert_eq!((n1.load(SeqCst), n3.load(SeqCst)), (1, 1));
}

// irqdesc.c irq_alloc_descs / irq_free_descs: ranges, exact placement, typed errors.
#[test]
fn descriptor_allocation_bitmap() {
    let (sys, _p) = machine(1);
    let a = sys.irq_alloc_descs(100, 4, true).unwrap();
    assert_eq!(a, 100);
    assert!(matches!(sys.irq_alloc_descs(102, 1, true), Err(IrqError::Busy(_))));
    assert_eq!(sys.irq_alloc_descs(101, 2, false).unwrap(), 104);
    let hi = sys.irq_alloc_descs(NR_IRQS_MAX - 1, 1, true).unwrap();
    assert_eq!(hi, NR_IRQS_MAX - 1);
    assert!(matches!(sys.irq_alloc_descs(NR_IRQS_MAX - 1, 2, false), Err(IrqError::NoSpace(_))));
    assert!(sys.irq_alloc_descs(0, 0, false).is_err());
    sys.irq_free_descs(100, 4).unwrap();
    assert!(matches!(sys.irq_free_descs(100, 1), Err(IrqError::AlreadyFreed(_))));
    assert_eq!(sys.irq_alloc_descs(100, 4, true).unwrap(), 100, "freed range is reusable");
}

// irqdomain.c irq_domain_create_nomap: hwirq == virq, bounded by direct_max.
#[test]
fn nomap_domain_uses_hwirq_as_virq() {
    let (sys, _p) = machine(1);
    let dom = sys
        .irq_domain_create(
            "legacy",
            RevMap::NoMap(16),
            Arc::new(PlainOps { chip: RecChip::basic() }),
            None,
            None,
        )
        .unwrap();
    assert_eq!(sys.irq_create_mapping(Some(&dom), 9).unwrap(), 9);
    assert_eq!(sys.irq_find_mapping(&dom, 9), Some(9));
    assert!(sys.irq_create_mapping(Some(&dom), 16).is_err());
    assert!(matches!(
        sys.irq_domain_create(
            "bad",
            RevMap::Linear(0),
            Arc::new(PlainOps { chip: RecChip::basic() }),
            None,
            None
        ),
        Err(IrqError::InvalidArgument(_))
    ));
}
