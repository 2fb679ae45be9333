//! The documents rendered per environment from `templates/` with handlebars, in strict mode (a missing
//! value is an error, not an empty string) and without HTML escaping (the output is Markdown and JSON).

use std::collections::BTreeMap;

use handlebars::Handlebars;

use crate::pipeline::{DASHBOARD_FILE, Pipeline};
use crate::render::facts;
use crate::tf::HEADER;

/// The templates, compiled in so rendering does not depend on the working directory.
const TEMPLATES: [(&str, &str); 2] = [
    ("RUNBOOK.md", include_str!("../../templates/RUNBOOK.md.hbs")),
    (
        DASHBOARD_FILE,
        include_str!("../../templates/dashboard.json.hbs"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    #[error("template {name} does not compile: {message}")]
    Template { name: &'static str, message: String },
    #[error("template {name} does not render: {message}")]
    Render { name: &'static str, message: String },
    #[error("the dashboard template did not render valid JSON: {0}")]
    Dashboard(String),
}

/// A strict, non-escaping registry with every template.
fn registry() -> Result<Handlebars<'static>, DocsError> {
    let mut hb = Handlebars::new();
    hb.set_strict_mode(true);
    hb.register_escape_fn(handlebars::no_escape);
    for (name, text) in TEMPLATES {
        hb.register_template_string(name, text)
            .map_err(|e| DocsError::Template {
                name,
                message: e.to_string(),
            })?;
    }
    Ok(hb)
}

/// `RUNBOOK.md` and `dashboard.json` for the pipeline.
pub fn render(pipeline: &Pipeline) -> Result<BTreeMap<String, String>, DocsError> {
    let hb = registry()?;
    let data = facts(pipeline);
    let mut out = BTreeMap::new();
    for (name, _) in TEMPLATES {
        let text = hb.render(name, &data).map_err(|e| DocsError::Render {
            name,
            message: e.to_string(),
        })?;
        let text = if name == DASHBOARD_FILE {
            // Re-serialized so the body is valid JSON with sorted keys, whatever the template's layout.
            let body: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| DocsError::Dashboard(e.to_string()))?;
            serde_json::to_string_pretty(&body).map_err(|e| DocsError::Dashboard(e.to_string()))?
                + "\n"
        } else {
            format!("<!-- {HEADER} -->\n{}\n", text.trim_end())
        };
        out.insert(name.to_owned(), text);
    }
    Ok(out)
}
