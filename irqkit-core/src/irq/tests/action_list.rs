//! Action-list lifetime under a running flow handler (kernel/irq/handle.c walks
//! `desc->action` with `desc->lock` dropped; manage.c `__free_irq` unlinks under the
//! lock and frees only once no handler runs). irqkit's flows read the list through an
//! uncounted borrow, so these tests pin down when replaced lists are released.

use super::*;

// manage.c free_irq: "Trying to free IRQ %d from IRQ context!" is only a WARN; the
// running walk must still see valid memory, and the unlinked action is released once
// the walk is over (irqkit keeps Linux's snapshot: the walk that started runs both).
#[test]
fn free_irq_from_the_lines_own_handler_keeps_the_walked_list_alive() {
    let (sys, _p) = machine(1);
    let irq = line(&sys, RecChip::basic(), FlowHandler::FastEoi);
    let slot: Arc<Mutex<Option<Registration>>> = Arc::new(Mutex::new(None));
    let order = Arc::new(Mutex::new(Vec::new()));
    let (s2, o2) = (slot.clone(), order.clone());
    let _a = sys
        .request_irq(
            irq,
            move |_| {
                o2.lock().unwrap().push("a");
                // Dropping the registration frees "b" from hard-irq context.
                drop(s2.lock().unwrap().take());
                IrqReturn::HANDLED
            },
            Flags::SHARED,
            "a",
        )
        .unwrap();
    let token = Arc::new(());
    let (t2, o3) = (token.clone(), order.clone());
    let b = sys
        .request_irq(
            irq,
            move |_| {
                let _keep = &t2;
                o3.lock().unwrap().push("b");
                IrqReturn::HANDLED
            },
            Flags::SHARED,
            "b",
        )
        .unwrap();
    *slot.lock().unwrap() = Some(b);
    fire(&sys, irq);
    assert_eq!(*order.lock().unwrap(), ["a", "b"]);
    assert!(sys.irq.drain_log(&sys).iter().any(|l| l.contains("from IRQ context")));
    let desc = sys.irq_to_desc(irq).unwrap();
    {
        let g = desc.inner.lock_irqsave(&sys);
        assert_eq!(g.action_borrows(), 0);
        assert!(g.rare().is_none_or(|r| r.retired.is_empty()), "retired list kept");
        assert_eq!(g.actions().map(|l| l.len()), Some(1));
    }
    // The last reference to "b" (and its closure) went with the retired list.
    assert_eq!(Arc::strong_count(&token), 1);
    fire(&sys, irq);
    assert_eq!(*order.lock().unwrap(), ["a", "b", "a"]);
}

// irqdesc.c: every flow that borrowed the list gives it back, whatever the outcome.
#[test]
fn every_flow_ends_its_borrow() {
    let (sys, _p) = machine(1);
    for flow in [FlowHandler::FastEoi, FlowHandler::Edge, FlowHandler::Level, FlowHandler::Simple] {
        let irq = line(&sys, RecChip::basic(), flow);
        let (n, h) = counting(IrqReturn::NONE);
        let _r = sys.request_irq(irq, h, Flags::empty(), "x").unwrap();
        fire(&sys, irq);
        fire(&sys, irq);
        assert_eq!(n.load(std::sync::atomic::Ordering::SeqCst), 2);
        let desc = sys.irq_to_desc(irq).unwrap();
        assert_eq!(desc.inner.lock_irqsave(&sys).action_borrows(), 0);
    }
}

// A line that is mapped and requested but never set up for wake-up, per-CPU enables or
// affinity moves keeps its rare fields unallocated except for the PM counts.
#[test]
fn rare_fields_default_like_linux_until_written() {
    let (sys, _p) = machine(2);
    let irq = line(&sys, RecChip::basic(), FlowHandler::FastEoi);
    let desc = sys.irq_to_desc(irq).unwrap();
    {
        let g = desc.inner.lock_irqsave(&sys);
        assert!(g.rare().is_none());
        assert_eq!((g.wake_depth(), g.node(), g.parent_irq()), (0, 0, None));
        assert_eq!(g.pm_counts(), PmCounts::default());
        assert_eq!(g.flow_name(), None);
        assert!(g.percpu_enabled().is_empty() && g.pending_mask().is_none());
    }
    let r = sys.request_irq(irq, |_| IrqReturn::HANDLED, Flags::NO_SUSPEND, "x").unwrap();
    assert_eq!(desc.inner.lock_irqsave(&sys).pm_counts().no_suspend_depth, 1);
    assert_eq!(r.free(&task()).unwrap(), "x");
    assert_eq!(desc.inner.lock_irqsave(&sys).pm_counts(), PmCounts::default());
}

// irqdesc.c irq_free_descs/irq_alloc_descs: a descriptor recycled (misuse: from its
// own handler) while a flow still walks its list keeps that list until the walk ends.
#[test]
fn descriptor_reset_under_a_running_flow_keeps_the_walked_list() {
    let (sys, _p) = machine(1);
    let irq = line(&sys, RecChip::basic(), FlowHandler::FastEoi);
    let slot: Arc<Mutex<Option<Registration>>> = Arc::new(Mutex::new(None));
    let (s2, sys2) = (slot.clone(), Arc::downgrade(&sys));
    let token = Arc::new(());
    let t2 = token.clone();
    let reg = sys
        .request_irq(
            irq,
            move |_| {
                let _keep = &t2;
                drop(s2.lock().unwrap().take());
                let sys = sys2.upgrade().unwrap();
                sys.irq_free_descs(irq, 1).unwrap();
                assert_eq!(sys.irq_alloc_descs(irq, 1, true).unwrap(), irq);
                IrqReturn::HANDLED
            },
            Flags::empty(),
            "self",
        )
        .unwrap();
    *slot.lock().unwrap() = Some(reg);
    fire(&sys, irq);
    let desc = sys.irq_to_desc(irq).unwrap();
    let g = desc.inner.lock_irqsave(&sys);
    assert_eq!(g.action_borrows(), 0);
    assert!(g.actions().is_none());
    assert!(g.rare().is_none_or(|r| r.retired.is_empty()));
    drop(g);
    assert_eq!(Arc::strong_count(&token), 1, "the walked list was not released");
}
