//! One CEL expression of a policy: parsed once, checked for what vf-post cannot evaluate the
//! way Kubernetes does, and named for error messages (`validations[1].expression`).

use std::collections::BTreeSet;

use kube_cel::cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue, operators};
use kube_cel::cel::{Context, Program};

use crate::reads::Step;

/// The longest expression accepted, bytes: beyond anything a person writes, and a bound on
/// parsing time.
const MAX_LENGTH: usize = 64 * 1024;

/// What an expression may construct with `Name{field: value}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Messages {
    /// Nothing: ValidatingAdmissionPolicy declares no message types.
    None,
    /// `Object`, `Object.<field>...` and `JSONPatch` (MutatingAdmissionPolicy).
    Mutation,
}

/// A parsed expression.
pub struct Compiled {
    /// Where it is written: `validations[0].expression`.
    pub place: String,
    pub source: String,
    pub program: Program,
    /// The `variables.<name>` it reads.
    pub variables: BTreeSet<String>,
    /// The parts of `object` it reads, each whole: paths from the object's top
    /// (`metadata.labels`, `spec.containers[*].image`); the empty path when it reads the
    /// object whole.
    pub reads: BTreeSet<Vec<Step>>,
    /// The other names it reads (`request`, `params`): the names of functions, variables
    /// and types not bound inside it.
    pub names: BTreeSet<String>,
}

impl Compiled {
    /// The message type the expression constructs at its top, if it is a construction.
    pub fn message_type(&self) -> Option<&str> {
        match &self.program.expression().expr {
            Expr::Struct(s) => Some(s.type_name.trim_start_matches('.')),
            _ => None,
        }
    }
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.place, self.source)
    }
}

/// What the expression may use: the declared variables, `params` or not.
pub struct Scope<'a> {
    /// The functions Kubernetes' CEL offers (to tell `math.abs(x)` from a variable `math`).
    pub functions: &'a Context<'a>,
    /// Variables declared before this expression.
    pub variables: &'a [String],
    /// Whether the policy has a `paramKind`.
    pub params: bool,
    pub messages: Messages,
}

/// Parses and checks one expression.
pub fn compile(place: &str, source: &str, scope: &Scope<'_>) -> Result<Compiled, String> {
    let fail = |why: String| Err(format!("{place}: {why}"));
    if source.len() > MAX_LENGTH {
        return fail(format!(
            "{} bytes, more than the {MAX_LENGTH} allowed",
            source.len()
        ));
    }
    if source.trim().is_empty() {
        return fail("empty".into());
    }
    if let Err(why) = crate::depth::check(source) {
        return fail(why);
    }
    // Kubernetes' CEL environment has the optional syntax (`object.?spec.?replicas`).
    let parser = kube_cel::cel::parser::Parser::new().enable_optional_syntax(true);
    let program = match Program::compile_with(parser, source) {
        Ok(p) => p,
        Err(e) => return fail(format!("does not parse: {}", one_line(&e.to_string()))),
    };
    let mut walk = Walk {
        scope,
        bound: Vec::new(),
        variables: BTreeSet::new(),
        reads: BTreeSet::new(),
        names: BTreeSet::new(),
        problem: None,
    };
    walk.expr(program.expression(), None);
    if let Some(problem) = walk.problem {
        return fail(problem);
    }
    Ok(Compiled {
        place: place.to_owned(),
        source: source.to_owned(),
        program,
        variables: walk.variables,
        reads: walk.reads,
        names: walk.names,
    })
}

/// A literal, or a list or map of literals: a value that reads nothing.
fn is_constant(e: &IdedExpr) -> bool {
    match &e.expr {
        Expr::Literal(_) => true,
        Expr::List(list) => list.elements.iter().all(is_constant),
        Expr::Map(map) => map.entries.iter().all(|entry| match &entry.expr {
            EntryExpr::MapEntry(entry) => is_constant(&entry.key) && is_constant(&entry.value),
            EntryExpr::StructField(_) => false,
        }),
        _ => false,
    }
}

/// Parse errors come over several lines (the expression, a caret), one error after another;
/// reports take the first error, on one line.
fn one_line(text: &str) -> String {
    let first = match text.match_indices("ERROR:").nth(1) {
        Some((second, _)) => &text[..second],
        None => text,
    };
    first.split_whitespace().collect::<Vec<_>>().join(" ")
}

struct Walk<'s, 'a> {
    scope: &'s Scope<'a>,
    /// Comprehension variables in scope, innermost last; with the path of `object` a
    /// variable holds the items of, if it does.
    bound: Vec<(String, Option<Vec<Step>>)>,
    variables: BTreeSet<String>,
    reads: BTreeSet<Vec<Step>>,
    names: BTreeSet<String>,
    problem: Option<String>,
}

impl Walk<'_, '_> {
    fn refuse(&mut self, why: String) {
        self.problem.get_or_insert(why);
    }

    /// `message`: the message type an enclosing construction expects here, if any.
    fn expr(&mut self, e: &IdedExpr, expected: Option<&str>) {
        if self.problem.is_some() {
            return;
        }
        // The walk meets a chain of selections from `object` at its end first: what the
        // expression reads is that value, whole, whatever it does with it.
        if let Some(path) = self.object_path(e) {
            self.reads.insert(path);
            return;
        }
        match &e.expr {
            Expr::Ident(name) => self.ident(name),
            Expr::Select(select) => {
                if let Expr::Ident(root) = &select.operand.expr
                    && root == "variables"
                    && !self.is_bound(root)
                {
                    if self.scope.variables.contains(&select.field) {
                        self.variables.insert(select.field.clone());
                    } else {
                        self.refuse(format!(
                            "`variables.{}` is not declared before this expression",
                            select.field
                        ));
                    }
                    return;
                }
                self.expr(&select.operand, None);
            }
            Expr::Call(call) => {
                let qualified = match call.target.as_deref() {
                    Some(IdedExpr {
                        expr: Expr::Ident(prefix),
                        ..
                    }) => self
                        .scope
                        .functions
                        .has_function(&format!("{prefix}.{}", call.func_name)),
                    _ => false,
                };
                if let Some(target) = &call.target
                    && !qualified
                {
                    self.expr(target, None);
                }
                for arg in &call.args {
                    self.expr(arg, None);
                }
                let operator = !call
                    .func_name
                    .starts_with(|c: char| c.is_ascii_alphabetic());
                if !qualified && !operator && !self.scope.functions.has_function(&call.func_name) {
                    self.refuse(format!(
                        "calls `{}`, which vf-post's CEL does not have (docs/cel.md lists what it lacks)",
                        call.func_name
                    ));
                }
            }
            Expr::Comprehension(c) => {
                // Over a part of `object`, the variable holds its items: what the loop selects
                // from the variable is read of every item. Two variables (index and item, or
                // key and value) are left to the general rule: the range is read whole.
                let range = match c.iter_var2 {
                    None => self.object_path(&c.iter_range),
                    Some(_) => None,
                };
                if range.is_none() {
                    self.expr(&c.iter_range, None);
                }
                self.expr(&c.accu_init, None);
                let items = range.clone().map(|mut p| {
                    p.push(Step::Items);
                    p
                });
                let depth = self.bound.len();
                self.bound.push((c.iter_var.clone(), items.clone()));
                self.bound.push((c.accu_var.clone(), None));
                self.bound
                    .extend(c.iter_var2.iter().map(|v| (v.clone(), None)));
                self.expr(&c.loop_cond, None);
                self.expr(&c.loop_step, None);
                self.expr(&c.result, None);
                self.bound.truncate(depth);
                // Any read through the items sends the range with every item; a loop that
                // reads nothing of its items still needs the range, whole.
                if let (Some(range), Some(items)) = (range, items)
                    && !self.reads.iter().any(|r| r.starts_with(&items))
                {
                    self.reads.insert(range);
                }
            }
            Expr::List(list) => {
                for item in &list.elements {
                    self.expr(item, expected);
                }
            }
            Expr::Map(map) => {
                for entry in &map.entries {
                    if let EntryExpr::MapEntry(entry) = &entry.expr {
                        self.expr(&entry.key, None);
                        self.expr(&entry.value, None);
                    }
                }
            }
            Expr::Struct(s) => self.message(&s.type_name, &s.entries, expected),
            Expr::Literal(_) | Expr::Unspecified => {}
        }
    }

    /// Whether `name` is a comprehension variable here.
    fn is_bound(&self, name: &str) -> bool {
        self.bound.iter().any(|(b, _)| b == name)
    }

    /// The path of `object.a.?b['c'][?'d']`: selections from `object` (or from a variable
    /// holding items of a part of it) by field name or string literal, optional or not, and
    /// `x.orValue(constant)` of such an optional; `None` for anything else. On a map each
    /// form reads the same field; on anything else each fails, or tests, the same way on the
    /// value whole.
    fn object_path(&self, e: &IdedExpr) -> Option<Vec<Step>> {
        match &e.expr {
            Expr::Ident(name) => match self.bound.iter().rev().find(|(b, _)| b == name) {
                Some((_, items)) => items.clone(),
                None => (name == "object").then(Vec::new),
            },
            Expr::Select(select) => {
                let mut path = self.object_path(&select.operand)?;
                path.push(Step::Field(select.field.clone()));
                Some(path)
            }
            // The optional's value, or a constant that reads nothing of the object.
            Expr::Call(call)
                if call.func_name == "orValue"
                    && call.args.len() == 1
                    && is_constant(&call.args[0]) =>
            {
                self.object_path(call.target.as_deref()?)
            }
            Expr::Call(call)
                if call.target.is_none()
                    && matches!(
                        call.func_name.as_str(),
                        operators::OPT_SELECT | operators::INDEX | operators::OPT_INDEX
                    ) =>
            {
                let [operand, key] = call.args.as_slice() else {
                    return None;
                };
                let Expr::Literal(LiteralValue::String(key)) = &key.expr else {
                    return None;
                };
                let mut path = self.object_path(operand)?;
                path.push(Step::Field(key.inner().to_owned()));
                Some(path)
            }
            _ => None,
        }
    }

    fn ident(&mut self, name: &str) {
        if self.is_bound(name) {
            return;
        }
        self.names.insert(name.to_owned());
        match name {
            "authorizer" => self.refuse(
                "uses `authorizer`, which asks the cluster's authorizer; vf-post cannot evaluate it offline"
                    .into(),
            ),
            "params" if !self.scope.params => self.refuse(
                "uses `params`, but the policy has no `paramKind`".into(),
            ),
            _ => {}
        }
    }

    /// `Name{field: value, ...}`: only the message types Kubernetes declares, and an object's
    /// nested types must follow its fields (`Object.spec{template: Object.spec.template{}}`),
    /// as the API server checks.
    fn message(
        &mut self,
        name: &str,
        entries: &[kube_cel::cel::common::ast::IdedEntryExpr],
        expected: Option<&str>,
    ) {
        let name = name.trim_start_matches('.');
        match self.scope.messages {
            Messages::None => {
                return self.refuse(format!(
                    "constructs `{name}{{...}}`: only MutatingAdmissionPolicy declares message types"
                ));
            }
            Messages::Mutation => {
                let known = name == "JSONPatch" || name == "Object" || name.starts_with("Object.");
                if !known {
                    return self.refuse(format!(
                        "constructs `{name}{{...}}`: the types are `Object`, `Object.<field>...` and `JSONPatch`"
                    ));
                }
                if let Some(expected) = expected
                    && name != expected
                {
                    return self.refuse(format!(
                        "type mismatch: `{name}{{...}}` where the field path makes it `{expected}`"
                    ));
                }
            }
        }
        for entry in entries {
            if let EntryExpr::StructField(field) = &entry.expr {
                if name == "JSONPatch" {
                    if !matches!(field.field.as_str(), "op" | "path" | "from" | "value") {
                        return self.refuse(format!(
                            "JSONPatch has no field `{}` (op, path, from, value)",
                            field.field
                        ));
                    }
                    // A value's object type starts its own field path.
                    self.expr(&field.value, None);
                } else {
                    let nested = format!("{name}.{}", field.field);
                    self.expr(&field.value, Some(&nested));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(source: &str, messages: Messages) -> Result<Compiled, String> {
        let functions = crate::functions();
        let variables = vec!["known".to_owned()];
        let scope = Scope {
            functions: &functions,
            variables: &variables,
            params: false,
            messages,
        };
        compile("validations[0].expression", source, &scope)
    }

    #[test]
    fn what_cannot_be_evaluated_offline_is_refused_naming_the_place() {
        let err = check(
            "authorizer.group('apps').check('x').allowed()",
            Messages::None,
        )
        .err()
        .unwrap();
        assert!(
            err.starts_with("validations[0].expression: uses `authorizer`"),
            "{err}"
        );
        assert!(check("params.x == 1", Messages::None).is_err());
        assert!(check("variables.unknown", Messages::None).is_err());
        assert!(
            check("object.spec.(", Messages::None)
                .unwrap_err()
                .contains("does not parse")
        );
        assert!(check(&"1 + ".repeat(20_000), Messages::None).is_err());
        let err = check("type(object) == string", Messages::None).unwrap_err();
        assert!(err.contains("calls `type`"), "{err}");
        assert!(check("object.?spec.?replicas.orValue(1) > 0", Messages::None).is_ok());
        assert!(check("dyn(object.spec.replicas) > 0", Messages::None).is_ok());
    }

    #[test]
    fn bound_names_shadow_and_functions_are_not_variables() {
        let c = check(
            "object.spec.containers.all(params, params.name != '') && math.abs(-1) == 1 && variables.known",
            Messages::None,
        )
        .unwrap();
        assert_eq!(c.variables.iter().collect::<Vec<_>>(), ["known"]);
    }

    #[test]
    fn message_types_follow_the_field_path() {
        assert!(check("Object{spec: Object.spec{}}", Messages::None).is_err());
        check(
            "Object{spec: Object.spec{template: Object.spec.template{}, containers: [Object.spec.containers{name: 'a'}]}}",
            Messages::Mutation,
        )
        .unwrap();
        let err = check("Object{spec: Object.spec.wrong{}}", Messages::Mutation).unwrap_err();
        assert!(err.contains("type mismatch"), "{err}");
        assert!(check("Foo{}", Messages::Mutation).is_err());
        check(
            "[JSONPatch{op: 'add', path: '/spec/selector', value: Object.spec.selector{matchLabels: {'a': 'b'}}}]",
            Messages::Mutation,
        )
        .unwrap();
        assert!(check("[JSONPatch{oops: 1}]", Messages::Mutation).is_err());
    }
}
