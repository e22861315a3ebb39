//! Chat templates: the model's Jinja template rendered with minijinja the way HF transformers
//! renders it (`trim_blocks`, `lstrip_blocks`, `raise_exception`, the special tokens as
//! strings), plus a small subset of Python string/dict methods that templates call.

use minijinja::value::{Value, ValueKind};
use minijinja::{Environment, ErrorKind, State};

use crate::error::{Error, Result};

use super::ChatMessage;

/// HF's classic default template (ChatML), used when a model has none.
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// Special-token strings handed to the template.
pub struct TemplateTokens<'a> {
    pub bos_token: &'a str,
    pub eos_token: &'a str,
    pub unk_token: &'a str,
    pub pad_token: &'a str,
}

pub fn render(
    template: &str,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
    tokens: &TemplateTokens<'_>,
) -> Result<String> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(false);
    env.add_function("raise_exception", |msg: String| -> std::result::Result<Value, minijinja::Error> {
        Err(minijinja::Error::new(ErrorKind::InvalidOperation, msg))
    });
    env.set_unknown_method_callback(py_method);
    let tmpl = env.template_from_str(template).map_err(|e| Error::Template(format!("{e:#}")))?;
    let ctx = minijinja::context! {
        messages => Value::from_serialize(messages),
        add_generation_prompt => add_generation_prompt,
        bos_token => tokens.bos_token,
        eos_token => tokens.eos_token,
        unk_token => tokens.unk_token,
        pad_token => tokens.pad_token,
    };
    tmpl.render(ctx).map_err(|e| Error::Template(format!("{e:#}")))
}

fn err(kind: ErrorKind, msg: String) -> minijinja::Error {
    minijinja::Error::new(kind, msg)
}

fn str_arg<'a>(args: &'a [Value], i: usize, method: &str) -> std::result::Result<Option<&'a str>, minijinja::Error> {
    match args.get(i) {
        None => Ok(None),
        Some(v) if v.is_none() || v.is_undefined() => Ok(None),
        Some(v) => v.as_str().map(Some).ok_or_else(|| {
            err(ErrorKind::InvalidOperation, format!("{method}(): argument {} must be a string", i + 1))
        }),
    }
}

/// Python methods that chat templates call on strings and dicts (a subset of
/// minijinja-contrib's pycompat, written here to keep the wasm bundle lean).
fn py_method(
    state: &State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> std::result::Result<Value, minijinja::Error> {
    if let Some(s) = value.as_str() {
        // The first argument as an optional string (strip's chars, split's separator, ...).
        let chars = || str_arg(args, 0, method);
        let strip_set = |set: Option<&str>| {
            let set = set.map(str::to_string);
            move |c: char| match &set {
                Some(set) => set.contains(c),
                None => c.is_whitespace(),
            }
        };
        return Ok(match method {
            "strip" => Value::from(s.trim_matches(strip_set(chars()?))),
            "lstrip" => Value::from(s.trim_start_matches(strip_set(chars()?))),
            "rstrip" => Value::from(s.trim_end_matches(strip_set(chars()?))),
            "upper" => Value::from(s.to_uppercase()),
            "lower" => Value::from(s.to_lowercase()),
            "title" => state.apply_filter("title", std::slice::from_ref(value))?,
            "capitalize" => state.apply_filter("capitalize", std::slice::from_ref(value))?,
            "startswith" | "endswith" => {
                let arg = args
                    .first()
                    .ok_or_else(|| err(ErrorKind::MissingArgument, format!("{method}() needs an argument")))?;
                let test = |p: &str| if method == "startswith" { s.starts_with(p) } else { s.ends_with(p) };
                if let Some(p) = arg.as_str() {
                    Value::from(test(p))
                } else {
                    // a tuple/list of prefixes
                    let mut any = false;
                    for p in arg.try_iter()? {
                        any |= p.as_str().is_some_and(test);
                    }
                    Value::from(any)
                }
            }
            "replace" => {
                let (Some(from), Some(to)) = (str_arg(args, 0, method)?, str_arg(args, 1, method)?) else {
                    return Err(err(ErrorKind::MissingArgument, "replace() needs two string arguments".into()));
                };
                match args.get(2).and_then(|v| v.as_i64()) {
                    Some(n) if n >= 0 => Value::from(s.replacen(from, to, n as usize)),
                    _ => Value::from(s.replace(from, to)),
                }
            }
            "split" => {
                let parts: Vec<Value> = match chars()? {
                    Some(sep) => s.split(sep).map(Value::from).collect(),
                    None => s.split_whitespace().map(Value::from).collect(),
                };
                Value::from(parts)
            }
            "find" => {
                let p = chars()?.ok_or_else(|| err(ErrorKind::MissingArgument, "find() needs a string".into()))?;
                Value::from(s.find(p).map(|b| s[..b].chars().count() as i64).unwrap_or(-1))
            }
            "count" => {
                let p = chars()?.ok_or_else(|| err(ErrorKind::MissingArgument, "count() needs a string".into()))?;
                Value::from(s.matches(p).count())
            }
            "isdigit" => Value::from(!s.is_empty() && s.chars().all(|c| c.is_ascii_digit())),
            "isspace" => Value::from(!s.is_empty() && s.chars().all(char::is_whitespace)),
            _ => return Err(minijinja::Error::from(ErrorKind::UnknownMethod)),
        });
    }
    if value.kind() == ValueKind::Map {
        return match method {
            "items" => state.apply_filter("items", std::slice::from_ref(value)),
            "keys" => Ok(Value::from(value.try_iter()?.collect::<Vec<_>>())),
            "values" => {
                let mut out = Vec::new();
                for k in value.try_iter()? {
                    out.push(value.get_item(&k)?);
                }
                Ok(Value::from(out))
            }
            "get" => {
                let key = args.first().ok_or_else(|| err(ErrorKind::MissingArgument, "get() needs a key".into()))?;
                let v = value.get_item(key)?;
                Ok(if v.is_undefined() { args.get(1).cloned().unwrap_or(Value::from(())) } else { v })
            }
            _ => Err(minijinja::Error::from(ErrorKind::UnknownMethod)),
        };
    }
    Err(minijinja::Error::from(ErrorKind::UnknownMethod))
}
