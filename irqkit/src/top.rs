//! `irqkit top`: a live terminal view in the manner of util-linux `irqtop` — per-irq
//! rates per CPU, softirq rates, kernel-thread activity — refreshed each second while a
//! scenario runs. `q` quits, `s` cycles the sort.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode};
use ratatui::layout::{Constraint, Layout};
use ratatui::widgets::{Block, Borders, Row, Table};
use ratatui::{DefaultTerminal, Frame};

use irqkit::scenario::lsirq::{self, IrqRow};
use irqkit::scenario::model::Scenario;

/// How rows are ordered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    Rate,
    Total,
    Name,
}

/// Per-second rates between two samples of a `/proc`-style table.
fn rates(prev: &HashMap<String, u64>, now: &[IrqRow], dt: f64) -> Vec<(String, f64, u64, String)> {
    now.iter()
        .map(|r| {
            let before = prev.get(&r.irq).copied().unwrap_or(r.total);
            (r.irq.clone(), (r.total.saturating_sub(before)) as f64 / dt, r.total, r.name.clone())
        })
        .collect()
}

struct View {
    sort: Sort,
    irq_prev: HashMap<String, u64>,
    sirq_prev: HashMap<String, u64>,
    thr_prev: HashMap<String, u64>,
    last: Instant,
    irqs: Vec<(String, f64, u64, String)>,
    sirqs: Vec<(String, f64, u64, String)>,
    threads: Vec<(String, f64)>,
    fraction: f64,
}

impl View {
    fn sample(&mut self, sys: &irqkit_core::IrqSystem, fraction: f64) {
        let dt = self.last.elapsed().as_secs_f64().max(1e-3);
        self.last = Instant::now();
        self.fraction = fraction;
        let irq_rows = lsirq::parse(&sys.show_interrupts());
        let sirq_rows = lsirq::parse(&sys.proc_softirqs());
        self.irqs = rates(&self.irq_prev, &irq_rows, dt);
        self.sirqs = rates(&self.sirq_prev, &sirq_rows, dt);
        self.irq_prev = irq_rows.iter().map(|r| (r.irq.clone(), r.total)).collect();
        self.sirq_prev = sirq_rows.iter().map(|r| (r.irq.clone(), r.total)).collect();
        let mut thr = Vec::new();
        let mut now = HashMap::new();
        for t in sys.threads() {
            let sw = t.nvcsw() + t.nivcsw();
            let before = self.thr_prev.get(&t.name()).copied().unwrap_or(sw);
            thr.push((t.name(), sw.saturating_sub(before) as f64 / dt));
            now.insert(t.name(), sw);
        }
        thr.sort_by(|a, b| b.1.total_cmp(&a.1));
        self.threads = thr;
        self.thr_prev = now;
        match self.sort {
            Sort::Rate => self.irqs.sort_by(|a, b| b.1.total_cmp(&a.1)),
            Sort::Total => self.irqs.sort_by_key(|r| std::cmp::Reverse(r.2)),
            Sort::Name => self.irqs.sort_by(|a, b| a.0.cmp(&b.0)),
        }
    }

    fn draw(&self, f: &mut Frame) {
        let [head, body, bottom] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(6), Constraint::Length(14)])
                .areas(f.area());
        let sort = match self.sort {
            Sort::Rate => "rate",
            Sort::Total => "total",
            Sort::Name => "irq",
        };
        f.render_widget(
            ratatui::text::Line::from(format!(
                "irqkit top — {:.0}% of the scenario — sort: {sort} (s) — q quits",
                self.fraction * 100.0
            )),
            head,
        );
        let row = |(irq, rate, total, name): &(String, f64, u64, String)| {
            Row::new(vec![irq.clone(), format!("{rate:.0}"), total.to_string(), name.clone()])
        };
        let widths = [
            Constraint::Length(6),
            Constraint::Length(10),
            Constraint::Length(12),
            Constraint::Min(20),
        ];
        let irqs = Table::new(self.irqs.iter().map(row), widths)
            .header(Row::new(vec!["IRQ", "/s", "TOTAL", "NAME"]))
            .block(Block::default().borders(Borders::ALL).title("interrupts"));
        f.render_widget(irqs, body);
        let [sirq, thr] =
            Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                .areas(bottom);
        let sirqs = Table::new(self.sirqs.iter().map(row), widths)
            .header(Row::new(vec!["", "/s", "TOTAL", ""]))
            .block(Block::default().borders(Borders::ALL).title("softirqs"));
        f.render_widget(sirqs, sirq);
        let threads = Table::new(
            self.threads.iter().take(12).map(|(n, r)| Row::new(vec![n.clone(), format!("{r:.0}")])),
            [Constraint::Min(16), Constraint::Length(10)],
        )
        .header(Row::new(vec!["kernel thread", "switches/s"]))
        .block(Block::default().borders(Borders::ALL).title("kernel threads"));
        f.render_widget(threads, thr);
    }
}

fn drive(term: &mut DefaultTerminal, sc: &Scenario) -> Result<(), String> {
    let mut view = View {
        sort: Sort::Rate,
        irq_prev: HashMap::new(),
        sirq_prev: HashMap::new(),
        thr_prev: HashMap::new(),
        last: Instant::now(),
        irqs: Vec::new(),
        sirqs: Vec::new(),
        threads: Vec::new(),
        fraction: 0.0,
    };
    let mut last_draw = Instant::now() - Duration::from_secs(2);
    let mut err = None;
    scenario_run(sc, |fraction, sys| {
        while let Ok(true) = event::poll(Duration::ZERO) {
            if let Ok(Event::Key(k)) = event::read() {
                match k.code {
                    KeyCode::Char('q') | KeyCode::Esc => return true,
                    KeyCode::Char('s') => {
                        view.sort = match view.sort {
                            Sort::Rate => Sort::Total,
                            Sort::Total => Sort::Name,
                            Sort::Name => Sort::Rate,
                        }
                    }
                    _ => {}
                }
            }
        }
        if last_draw.elapsed() >= Duration::from_secs(1) {
            last_draw = Instant::now();
            view.sample(sys, fraction);
            if let Err(e) = term.draw(|f| view.draw(f)) {
                err = Some(e.to_string());
                return true;
            }
        }
        false
    })?;
    err.map_or(Ok(()), Err)
}

fn scenario_run(
    sc: &Scenario,
    observe: impl FnMut(f64, &irqkit_core::IrqSystem) -> bool,
) -> Result<(), String> {
    irqkit::scenario::run::run(sc, false, observe).map(|_| ()).map_err(|e| e.to_string())
}

/// Runs `sc` under the live view until it ends or the user quits.
pub fn run(sc: &Scenario) -> Result<(), String> {
    let mut term = ratatui::try_init().map_err(|e| format!("top needs a terminal: {e}"))?;
    let r = drive(&mut term, sc);
    ratatui::restore();
    r
}
