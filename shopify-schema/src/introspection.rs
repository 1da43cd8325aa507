//! Shopify's introspection JSON, written out as SDL for the GraphQL compiler.
//!
//! The JSON is the answer to the standard introspection query (`{"data": {"__schema": …}}`)
//! with Shopify's own extra keys, which are ignored. Descriptions are left out of the SDL;
//! everything that validation needs is kept: types, fields, arguments and their defaults,
//! interfaces, union members, enum values, input fields, `@oneOf`, `@deprecated` (with its
//! reason) and Shopify's own directive definitions such as `@idempotent`.

use std::fmt::Write;

use serde::Deserialize;

/// The directives the compiler already defines; writing them again would be an error.
const BUILT_IN_DIRECTIVES: &[&str] = &["skip", "include", "deprecated", "specifiedBy"];

/// The scalars the compiler already defines.
const BUILT_IN_SCALARS: &[&str] = &["Int", "Float", "String", "Boolean", "ID"];

#[derive(Deserialize)]
struct Envelope {
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "__schema")]
    schema: IntrospectedSchema,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IntrospectedSchema {
    query_type: Named,
    mutation_type: Option<Named>,
    subscription_type: Option<Named>,
    types: Vec<FullType>,
    directives: Vec<DirectiveDef>,
}

#[derive(Deserialize)]
struct Named {
    name: String,
}

#[derive(Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Kind {
    Scalar,
    Object,
    Interface,
    Union,
    Enum,
    InputObject,
    List,
    NonNull,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FullType {
    kind: Kind,
    name: String,
    #[serde(default, rename = "specifiedByURL")]
    specified_by_url: Option<String>,
    #[serde(default)]
    is_one_of: Option<bool>,
    #[serde(default)]
    fields: Option<Vec<FieldDef>>,
    #[serde(default)]
    input_fields: Option<Vec<InputValue>>,
    #[serde(default)]
    interfaces: Option<Vec<TypeRef>>,
    #[serde(default)]
    enum_values: Option<Vec<EnumValue>>,
    #[serde(default)]
    possible_types: Option<Vec<TypeRef>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FieldDef {
    name: String,
    #[serde(default)]
    args: Vec<InputValue>,
    #[serde(rename = "type")]
    ty: TypeRef,
    #[serde(default)]
    is_deprecated: bool,
    #[serde(default)]
    deprecation_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InputValue {
    name: String,
    #[serde(rename = "type")]
    ty: TypeRef,
    #[serde(default)]
    default_value: Option<String>,
    #[serde(default)]
    is_deprecated: bool,
    #[serde(default)]
    deprecation_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EnumValue {
    name: String,
    #[serde(default)]
    is_deprecated: bool,
    #[serde(default)]
    deprecation_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypeRef {
    kind: Kind,
    name: Option<String>,
    of_type: Option<Box<TypeRef>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DirectiveDef {
    name: String,
    locations: Vec<String>,
    #[serde(default)]
    args: Vec<InputValue>,
    #[serde(default)]
    is_repeatable: bool,
}

/// Why an introspection document could not be turned into SDL.
#[derive(Debug, thiserror::Error)]
pub enum IntrospectionError {
    /// The JSON is not an introspection answer.
    #[error("not an introspection answer: {0}")]
    Json(#[from] serde_json::Error),
    /// A type reference has no name and nothing to wrap.
    #[error("a type reference without a name")]
    Unnamed,
}

/// Writes the schema described by the introspection answer `json` as SDL.
pub fn to_sdl(json: &[u8]) -> Result<String, IntrospectionError> {
    let schema = serde_json::from_slice::<Envelope>(json)?.data.schema;
    let mut out = String::with_capacity(json.len() / 4);
    out.push_str("schema {\n  query: ");
    out.push_str(&schema.query_type.name);
    if let Some(m) = &schema.mutation_type {
        let _ = write!(out, "\n  mutation: {}", m.name);
    }
    if let Some(s) = &schema.subscription_type {
        let _ = write!(out, "\n  subscription: {}", s.name);
    }
    out.push_str("\n}\n");
    for d in schema.directives.iter().filter(|d| !BUILT_IN_DIRECTIVES.contains(&d.name.as_str())) {
        let _ = write!(out, "directive @{}", d.name);
        write_args(&mut out, &d.args)?;
        if d.is_repeatable {
            out.push_str(" repeatable");
        }
        let _ = writeln!(out, " on {}", d.locations.join(" | "));
    }
    for t in &schema.types {
        if t.name.starts_with("__") || (t.kind == Kind::Scalar && BUILT_IN_SCALARS.contains(&t.name.as_str())) {
            continue;
        }
        write_type(&mut out, t)?;
    }
    Ok(out)
}

fn write_type(out: &mut String, t: &FullType) -> Result<(), IntrospectionError> {
    match t.kind {
        Kind::Scalar => {
            let _ = write!(out, "scalar {}", t.name);
            if let Some(url) = &t.specified_by_url {
                let _ = write!(out, " @specifiedBy(url: {})", string_literal(url));
            }
            out.push('\n');
        }
        Kind::Object | Kind::Interface => {
            let keyword = if t.kind == Kind::Object { "type" } else { "interface" };
            let _ = write!(out, "{keyword} {}", t.name);
            let interfaces = t.interfaces.as_deref().unwrap_or_default();
            for (i, iface) in interfaces.iter().enumerate() {
                out.push_str(if i == 0 { " implements " } else { " & " });
                out.push_str(iface.name.as_deref().ok_or(IntrospectionError::Unnamed)?);
            }
            out.push_str(" {\n");
            for f in t.fields.as_deref().unwrap_or_default() {
                let _ = write!(out, "  {}", f.name);
                write_args(out, &f.args)?;
                out.push_str(": ");
                write_type_ref(out, &f.ty)?;
                write_deprecated(out, f.is_deprecated, f.deprecation_reason.as_deref());
                out.push('\n');
            }
            out.push_str("}\n");
        }
        Kind::Union => {
            let _ = write!(out, "union {} =", t.name);
            for (i, member) in t.possible_types.as_deref().unwrap_or_default().iter().enumerate() {
                out.push_str(if i == 0 { " " } else { " | " });
                out.push_str(member.name.as_deref().ok_or(IntrospectionError::Unnamed)?);
            }
            out.push('\n');
        }
        Kind::Enum => {
            let _ = writeln!(out, "enum {} {{", t.name);
            for v in t.enum_values.as_deref().unwrap_or_default() {
                let _ = write!(out, "  {}", v.name);
                write_deprecated(out, v.is_deprecated, v.deprecation_reason.as_deref());
                out.push('\n');
            }
            out.push_str("}\n");
        }
        Kind::InputObject => {
            let _ = write!(out, "input {}", t.name);
            if t.is_one_of == Some(true) {
                out.push_str(" @oneOf");
            }
            out.push_str(" {\n");
            for f in t.input_fields.as_deref().unwrap_or_default() {
                out.push_str("  ");
                write_input_value(out, f)?;
                out.push('\n');
            }
            out.push_str("}\n");
        }
        Kind::List | Kind::NonNull => return Err(IntrospectionError::Unnamed),
    }
    Ok(())
}

fn write_args(out: &mut String, args: &[InputValue]) -> Result<(), IntrospectionError> {
    if args.is_empty() {
        return Ok(());
    }
    out.push('(');
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_input_value(out, a)?;
    }
    out.push(')');
    Ok(())
}

fn write_input_value(out: &mut String, v: &InputValue) -> Result<(), IntrospectionError> {
    out.push_str(&v.name);
    out.push_str(": ");
    write_type_ref(out, &v.ty)?;
    if let Some(default) = &v.default_value {
        // Introspection gives the default as GraphQL literal text, ready to write back.
        out.push_str(" = ");
        out.push_str(default);
    }
    write_deprecated(out, v.is_deprecated, v.deprecation_reason.as_deref());
    Ok(())
}

fn write_type_ref(out: &mut String, t: &TypeRef) -> Result<(), IntrospectionError> {
    match (t.kind, &t.of_type, &t.name) {
        (Kind::NonNull, Some(inner), _) => {
            write_type_ref(out, inner)?;
            out.push('!');
        }
        (Kind::List, Some(inner), _) => {
            out.push('[');
            write_type_ref(out, inner)?;
            out.push(']');
        }
        (_, _, Some(name)) => out.push_str(name),
        _ => return Err(IntrospectionError::Unnamed),
    }
    Ok(())
}

fn write_deprecated(out: &mut String, deprecated: bool, reason: Option<&str>) {
    if deprecated {
        out.push_str(" @deprecated");
        if let Some(reason) = reason {
            let _ = write!(out, "(reason: {})", string_literal(reason));
        }
    }
}

/// A GraphQL string literal: JSON's escapes are a subset of GraphQL's.
fn string_literal(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::to_sdl;

    #[test]
    fn a_small_introspection_answer_becomes_sdl_with_its_directives_and_deprecations() {
        let json = br#"{"data":{"__schema":{
            "queryType":{"name":"QueryRoot"},"mutationType":null,"subscriptionType":null,
            "directives":[
              {"name":"deprecated","locations":["FIELD_DEFINITION"],"args":[]},
              {"name":"idempotent","locations":["FIELD"],"isRepeatable":false,"args":[
                {"name":"key","type":{"kind":"NON_NULL","name":null,"ofType":{"kind":"SCALAR","name":"String","ofType":null}},"defaultValue":null}]}],
            "types":[
              {"kind":"SCALAR","name":"String"},
              {"kind":"OBJECT","name":"QueryRoot","interfaces":[],"fields":[
                {"name":"old","args":[],"type":{"kind":"SCALAR","name":"String","ofType":null},"isDeprecated":true,"deprecationReason":"Use \"new\"."},
                {"name":"new","args":[{"name":"n","type":{"kind":"SCALAR","name":"Int","ofType":null},"defaultValue":"3"}],
                 "type":{"kind":"NON_NULL","name":null,"ofType":{"kind":"LIST","name":null,"ofType":{"kind":"SCALAR","name":"String","ofType":null}}},"isDeprecated":false}]},
              {"kind":"INPUT_OBJECT","name":"Pick","isOneOf":true,"inputFields":[
                {"name":"a","type":{"kind":"SCALAR","name":"String","ofType":null},"defaultValue":null}]}]}}}"#;
        let sdl = to_sdl(json).expect("valid introspection");
        let expect = "schema {\n  query: QueryRoot\n}\n\
            directive @idempotent(key: String!) on FIELD\n\
            type QueryRoot {\n  old: String @deprecated(reason: \"Use \\\"new\\\".\")\n  new(n: Int = 3): [String]!\n}\n\
            input Pick @oneOf {\n  a: String\n}\n";
        assert_eq!(sdl, expect);
    }

    #[test]
    fn a_document_that_is_not_introspection_is_refused() {
        assert!(to_sdl(br#"{"data":{}}"#).is_err());
        assert!(to_sdl(b"not json").is_err());
    }
}
