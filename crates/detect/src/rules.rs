//! Detection rules in CEL, over one target's windowed figures: a unit's
//! (its subscriptions and every unit below it, added up) or a single
//! subscription's. A rule reads figures only through `sum`, `rate` and
//! `growth` with literal arguments — `sum("ai.speech-to-text",
//! "audio_seconds", "1d") > 3.6e6` — and the target's attributes
//! (`tenant`, `tenant_kind`, `unit`, `subscription`, `regions`). Anything
//! else it could name (another function, a field, a loop, a meter the
//! service does not declare) is refused when it is published, with the
//! place and the reason, so a published rule never fails for what it uses.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use cel::common::ast::{EntryExpr, Expr, LiteralValue};
use cel::{Context, IdedExpr, Program, Value};
use verdict_model::Catalog;

use crate::series::{Series, Window};

/// The names a rule may read.
pub const VARIABLES: [&str; 5] = ["tenant", "tenant_kind", "unit", "subscription", "regions"];

/// The figure functions.
pub const FIGURES: [&str; 3] = ["sum", "rate", "growth"];

/// Other functions a rule may call (CEL's own).
const OTHER_FUNCTIONS: [&str; 7] = ["size", "int", "double", "string", "contains", "startsWith", "endsWith"];

/// Why a rule cannot be published or evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleError {
    /// Not CEL.
    Syntax(String),
    /// A function rules cannot call.
    UnknownFunction(String),
    /// A name rules cannot read.
    UnknownName(String),
    /// A construct rules may not use (loops, fields, messages).
    Unsupported(&'static str),
    /// A figure function called with something else than literal
    /// service, meter and window.
    BadFigure(String),
    /// The rule reads no figure.
    NoFigure,
    /// The rule's value is not true or false.
    NotBoolean(String),
    /// Evaluation failed.
    Evaluation(String),
}

impl RuleError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            RuleError::Syntax(_) => "rule-syntax",
            RuleError::UnknownFunction(_) => "rule-unknown-function",
            RuleError::UnknownName(_) => "rule-unknown-name",
            RuleError::Unsupported(_) => "rule-unsupported",
            RuleError::BadFigure(_) => "rule-bad-figure",
            RuleError::NoFigure => "rule-reads-no-figure",
            RuleError::NotBoolean(_) => "rule-not-boolean",
            RuleError::Evaluation(_) => "rule-evaluation-failed",
        }
    }
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::Syntax(e) => write!(f, "the rule is not CEL: {e}"),
            RuleError::UnknownFunction(name) => write!(
                f,
                "the rule calls {name:?}, which rules cannot evaluate; they call {}, CEL's operators and {}",
                FIGURES.join(", "),
                OTHER_FUNCTIONS.join(", ")
            ),
            RuleError::UnknownName(name) => {
                write!(f, "the rule reads {name:?}, which rules do not have; they read {}", VARIABLES.join(", "))
            }
            RuleError::Unsupported(what) => write!(f, "rules cannot use {what}"),
            RuleError::BadFigure(why) => f.write_str(why),
            RuleError::NoFigure => f.write_str("the rule reads no figure: call sum, rate or growth at least once"),
            RuleError::NotBoolean(value) => write!(f, "the rule must be true or false, and it gives {value}"),
            RuleError::Evaluation(e) => write!(f, "the rule could not be evaluated: {e}"),
        }
    }
}

impl std::error::Error for RuleError {}

/// One figure a rule reads: `sum("storage.blob", "bytes_stored", "7d")`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reading {
    /// `sum`, `rate` or `growth`.
    pub function: &'static str,
    /// The service.
    pub service: String,
    /// The meter.
    pub meter: String,
    /// The window as written.
    pub window: String,
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({:?}, {:?}, {:?})", self.function, self.service, self.meter, self.window)
    }
}

/// What a rule is evaluated on.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// The tenant.
    pub tenant: String,
    /// Its kind (`government`, …).
    pub tenant_kind: String,
    /// The unit (a subscription's own, for a subscription).
    pub unit: String,
    /// The subscription, for a subscription target; empty for a unit.
    pub subscription: String,
    /// Regions of the subscriptions in it.
    pub regions: Vec<String>,
    /// Its series by service and meter.
    pub series: BTreeMap<(String, String), Series>,
}

/// A rule's outcome on one target at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Whether it fired.
    pub fires: bool,
    /// Each figure it read, as written, with its value.
    pub figures: BTreeMap<String, f64>,
}

/// A rule checked for publication.
#[derive(Debug)]
pub struct Rule {
    text: String,
    program: Program,
    readings: Vec<Reading>,
}

thread_local! {
    /// The figures of the evaluation under way on this thread, keyed by
    /// the reading as written (`Reading`'s `Display`).
    static FIGURES_NOW: RefCell<HashMap<String, f64>> = RefCell::new(HashMap::new());
}

fn figure(function: &'static str, service: Arc<String>, meter: Arc<String>, window: Arc<String>) -> f64 {
    let reading =
        Reading { function, service: service.to_string(), meter: meter.to_string(), window: window.to_string() };
    FIGURES_NOW.with(|f| f.borrow().get(&reading.to_string()).copied().unwrap_or(0.0))
}

fn context() -> Context<'static, 'static> {
    let mut context = Context::default();
    // The names are checked free at publication; a clash is a bug here.
    context.add_function("sum", |s: Arc<String>, m: Arc<String>, w: Arc<String>| figure("sum", s, m, w)).ok();
    context.add_function("rate", |s: Arc<String>, m: Arc<String>, w: Arc<String>| figure("rate", s, m, w)).ok();
    context.add_function("growth", |s: Arc<String>, m: Arc<String>, w: Arc<String>| figure("growth", s, m, w)).ok();
    context
}

impl Rule {
    /// Checks a rule's text as publication does: CEL, only what rules may
    /// use, every figure of a declared meter over a valid window, and a
    /// true-or-false value.
    pub fn compile(text: &str, catalog: &Catalog) -> Result<Rule, RuleError> {
        let program = Program::compile(text).map_err(|e| RuleError::Syntax(e.to_string()))?;
        let mut readings = Vec::new();
        check(program.expression(), catalog, &mut readings)?;
        if readings.is_empty() {
            return Err(RuleError::NoFigure);
        }
        readings.sort();
        readings.dedup();
        let rule = Rule { text: text.to_owned(), program, readings };
        // Every figure 0 and every attribute empty: the value must still be
        // true or false.
        rule.evaluate(&Target::default(), 0)?;
        Ok(rule)
    }

    /// The text as published.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The figures it reads.
    pub fn readings(&self) -> &[Reading] {
        &self.readings
    }

    /// Evaluates the rule on `target` for the windows ending at `end` (an
    /// hour boundary).
    pub fn evaluate(&self, target: &Target, end: i64) -> Result<Verdict, RuleError> {
        let mut figures = BTreeMap::new();
        let mut values = HashMap::new();
        for r in &self.readings {
            let window = Window::parse(&r.window).map_err(RuleError::BadFigure)?;
            let series = target.series.get(&(r.service.clone(), r.meter.clone()));
            let value = series.map_or(0.0, |s| match r.function {
                "sum" => s.sum(window, end),
                "rate" => s.rate(window, end),
                _ => s.growth(window, end),
            });
            figures.insert(r.to_string(), value);
            values.insert(r.to_string(), value);
        }
        FIGURES_NOW.with(|f| *f.borrow_mut() = values);
        let mut context = context();
        context.add_variable_from_value("tenant", target.tenant.clone());
        context.add_variable_from_value("tenant_kind", target.tenant_kind.clone());
        context.add_variable_from_value("unit", target.unit.clone());
        context.add_variable_from_value("subscription", target.subscription.clone());
        context.add_variable_from_value(
            "regions",
            Value::List(Arc::new(target.regions.iter().map(|r| Value::String(Arc::new(r.clone()))).collect())),
        );
        let result = self.program.execute(&context);
        FIGURES_NOW.with(|f| f.borrow_mut().clear());
        match result {
            Ok(Value::Bool(fires)) => Ok(Verdict { fires, figures }),
            Ok(other) => Err(RuleError::NotBoolean(format!("{other:?}"))),
            Err(e) => Err(RuleError::Evaluation(e.to_string())),
        }
    }
}

/// Walks the expression: what it calls and reads, and each figure.
fn check(e: &IdedExpr, catalog: &Catalog, readings: &mut Vec<Reading>) -> Result<(), RuleError> {
    match &e.expr {
        Expr::Unspecified => Err(RuleError::Unsupported("an empty expression")),
        Expr::Literal(_) => Ok(()),
        Expr::Ident(name) => {
            if VARIABLES.contains(&name.as_str()) {
                Ok(())
            } else {
                Err(RuleError::UnknownName(name.clone()))
            }
        }
        Expr::Select(_) => Err(RuleError::Unsupported("fields (a.b): figures come from sum, rate and growth")),
        Expr::Comprehension(_) => {
            Err(RuleError::Unsupported("loops or macros (all, exists, map, filter, has): a rule reads figures"))
        }
        Expr::Struct(_) => Err(RuleError::Unsupported("messages")),
        Expr::List(list) => list.elements.iter().try_for_each(|x| check(x, catalog, readings)),
        Expr::Map(map) => map.entries.iter().try_for_each(|entry| match &entry.expr {
            EntryExpr::MapEntry(m) => check(&m.key, catalog, readings).and_then(|_| check(&m.value, catalog, readings)),
            EntryExpr::StructField(_) => Err(RuleError::Unsupported("messages")),
        }),
        Expr::Call(call) => {
            let name = call.func_name.as_str();
            if let Some(function) = FIGURES.iter().find(|f| **f == name) {
                if call.target.is_some() {
                    return Err(RuleError::BadFigure(format!(
                        "{name} is called as sum(service, meter, window), not as a method"
                    )));
                }
                readings.push(figure_of(function, &call.args, catalog)?);
                return Ok(());
            }
            // CEL's operators are named `_+_`, `!_`, `@in`, …
            let operator =
                name.starts_with('_') || name.starts_with('!') || name.starts_with('-') || name.starts_with('@');
            if !operator && !OTHER_FUNCTIONS.contains(&name) {
                return Err(RuleError::UnknownFunction(name.to_owned()));
            }
            if let Some(target) = &call.target {
                check(target, catalog, readings)?;
            }
            call.args.iter().try_for_each(|x| check(x, catalog, readings))
        }
    }
}

fn literal_string(e: &IdedExpr) -> Option<String> {
    match &e.expr {
        Expr::Literal(LiteralValue::String(s)) => Some(s.inner().to_owned()),
        _ => None,
    }
}

fn figure_of(function: &'static str, args: &[IdedExpr], catalog: &Catalog) -> Result<Reading, RuleError> {
    let texts: Vec<Option<String>> = args.iter().map(literal_string).collect();
    let [Some(service), Some(meter), Some(window)] = texts.as_slice() else {
        return Err(RuleError::BadFigure(format!(
            "{function} takes three quoted texts — service, meter, window — e.g. {function}(\"storage.blob\", \"bytes_stored\", \"7d\")"
        )));
    };
    if catalog.index_of(service).is_none() {
        return Err(RuleError::BadFigure(format!("{function} reads service {service:?}, which is not in the catalog")));
    }
    if verdict_model::meter(service, meter).is_none() {
        let known: Vec<&str> = verdict_model::meters_of(service).map(|m| m.name).collect();
        return Err(RuleError::BadFigure(format!(
            "{function} reads meter {meter:?}, which {service} does not declare; it declares {}",
            known.join(", ")
        )));
    }
    Window::parse(window).map_err(RuleError::BadFigure)?;
    Ok(Reading { function, service: service.clone(), meter: meter.clone(), window: window.clone() })
}
