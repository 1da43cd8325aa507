//! Refuses any use of what the schema marks `@deprecated`: fields, arguments, input fields and
//! enum values, in the document's literals and in the variables' values. Shopify still serves
//! deprecated parts (with an `X-Shopify-API-Deprecated-Reason` header) until a later version
//! removes them; dongbo refuses them so that a removal can never surprise it.
//!
//! Also enforces `@oneOf` input objects (exactly one field, not null), which the compiler
//! declares but does not check.

use apollo_compiler::ast::{DirectiveList, Type, Value as Literal};
use apollo_compiler::executable::{ExecutableDocument, Selection, SelectionSet};
use apollo_compiler::parser::SourceMap;
use apollo_compiler::schema::InputObjectType;
use apollo_compiler::Schema as Compiled;

use crate::error::{location, ErrorKind, Location, SchemaError};

/// Why `directives` mark something deprecated, if they do.
fn reason(directives: &DirectiveList) -> Option<String> {
    let d = directives.get("deprecated")?;
    let why = d.specified_argument_by_name("reason").and_then(|v| v.as_str()).unwrap_or("No longer supported");
    Some(why.to_owned())
}

fn deprecated(what: String, why: String, at: Option<Location>) -> SchemaError {
    SchemaError::new(ErrorKind::Deprecated, format!("{what} is deprecated: {why}")).at(at)
}

fn is_one_of(input: &InputObjectType) -> bool {
    input.directives.get("oneOf").is_some()
}

/// Every deprecated use in the document's operations and fragments.
pub(crate) fn in_document(schema: &Compiled, doc: &ExecutableDocument) -> Vec<SchemaError> {
    let mut out = Vec::new();
    for op in doc.operations.iter() {
        for var in &op.variables {
            if let Some(default) = &var.default_value {
                let at = location(default.location(), &doc.sources);
                in_literal(schema, &var.ty, default, at, &mut out);
            }
        }
        in_selection_set(schema, &doc.sources, &op.selection_set, &mut out);
    }
    for fragment in doc.fragments.values() {
        in_selection_set(schema, &doc.sources, &fragment.selection_set, &mut out);
    }
    out
}

fn in_selection_set(schema: &Compiled, sources: &SourceMap, set: &SelectionSet, out: &mut Vec<SchemaError>) {
    for selection in &set.selections {
        match selection {
            Selection::Field(field) => {
                let at = location(field.location(), sources);
                if let Some(why) = reason(&field.definition.directives) {
                    out.push(deprecated(format!("field {}.{}", set.ty, field.name), why, at));
                }
                for arg in &field.arguments {
                    let at = location(arg.location(), sources);
                    let Some(def) = field.definition.argument_by_name(&arg.name) else { continue };
                    if let Some(why) = reason(&def.directives) {
                        out.push(deprecated(format!("argument {}.{}({}:)", set.ty, field.name, arg.name), why, at));
                    }
                    in_literal(schema, &def.ty, &arg.value, at, out);
                }
                for directive in field.directives.iter() {
                    let Some(def) = schema.directive_definitions.get(&directive.name) else { continue };
                    for arg in &directive.arguments {
                        let at = location(arg.location(), sources);
                        if let Some(def) = def.argument_by_name(&arg.name) {
                            in_literal(schema, &def.ty, &arg.value, at, out);
                        }
                    }
                }
                in_selection_set(schema, sources, &field.selection_set, out);
            }
            Selection::InlineFragment(inline) => in_selection_set(schema, sources, &inline.selection_set, out),
            // Fragment definitions are walked once each, by `in_document`.
            Selection::FragmentSpread(_) => {}
        }
    }
}

/// A literal value of type `ty`: its input fields and enum values.
fn in_literal(schema: &Compiled, ty: &Type, value: &Literal, at: Option<Location>, out: &mut Vec<SchemaError>) {
    match value {
        Literal::List(items) => {
            let item_ty = if ty.is_list() { ty.item_type() } else { ty };
            for item in items {
                in_literal(schema, item_ty, item, at, out);
            }
        }
        Literal::Object(fields) => {
            let name = ty.inner_named_type();
            let Some(input) = schema.get_input_object(name) else { return };
            if is_one_of(input) && (fields.len() != 1 || fields.iter().any(|(_, v)| v.is_null())) {
                out.push(one_of(name.as_str(), at, &[]));
            }
            for (field, v) in fields {
                let Some(def) = input.fields.get(field) else { continue };
                if let Some(why) = reason(&def.directives) {
                    out.push(deprecated(format!("input field {name}.{field}"), why, at));
                }
                in_literal(schema, &def.ty, v, at, out);
            }
        }
        Literal::Enum(v) => {
            let name = ty.inner_named_type();
            let def = schema.get_enum(name).and_then(|e| e.values.get(v));
            if let Some(why) = def.and_then(|d| reason(&d.directives)) {
                out.push(deprecated(format!("enum value {name}.{v}"), why, at));
            }
        }
        _ => {}
    }
}

fn one_of(name: &str, at: Option<Location>, path: &[String]) -> SchemaError {
    SchemaError::new(ErrorKind::Variables, format!("@oneOf input {name} needs exactly one field, and not null"))
        .at(at)
        .with_path(path)
}

/// A variable's JSON value of type `ty` (already coerced successfully): its input fields and
/// enum values; `path` names where inside the variable.
pub(crate) fn in_variable(
    schema: &Compiled,
    ty: &Type,
    value: &serde_json::Value,
    path: &mut Vec<String>,
    at: Option<Location>,
    out: &mut Vec<SchemaError>,
) {
    match value {
        serde_json::Value::Array(items) => {
            let item_ty = if ty.is_list() { ty.item_type() } else { ty };
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                in_variable(schema, item_ty, item, path, at, out);
                path.pop();
            }
        }
        serde_json::Value::Object(fields) => {
            let name = ty.inner_named_type();
            let Some(input) = schema.get_input_object(name) else { return };
            if is_one_of(input) && (fields.len() != 1 || fields.values().any(serde_json::Value::is_null)) {
                out.push(one_of(name.as_str(), at, path));
            }
            for (field, v) in fields {
                let Some(def) = input.fields.get(field.as_str()) else { continue };
                path.push(field.clone());
                if let Some(why) = reason(&def.directives) {
                    out.push(deprecated(format!("input field {name}.{field}"), why, at).with_path(path));
                }
                in_variable(schema, &def.ty, v, path, at, out);
                path.pop();
            }
        }
        serde_json::Value::String(s) => {
            let name = ty.inner_named_type();
            let def = schema.get_enum(name).and_then(|e| e.values.get(s.as_str()));
            if let Some(why) = def.and_then(|d| reason(&d.directives)) {
                out.push(deprecated(format!("enum value {name}.{s}"), why, at).with_path(path));
            }
        }
        _ => {}
    }
}
