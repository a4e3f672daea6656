//! The app's client-side routes: parsed from and written to the address bar, so a reload or a
//! shared link opens the same screen (the server answers every non-API path with the app).

/// One screen of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Login,
    /// The team's configurations.
    Configurations,
    /// A configuration's current version in the editor.
    Editor(i64),
    /// One stored version, read-only.
    Version(i64, i64),
    /// A configuration's versions and the diff between any two.
    History(i64),
    /// A configuration's deployments: deploy, progress, status, actions.
    Deployments(i64),
    /// The team's audit timeline.
    Audit,
    /// Built-in and team templates.
    Templates,
    Hosts,
    Members,
    /// The user's API tokens.
    Tokens,
    /// The editor on a local document, without a server (nothing is saved).
    Sandbox,
    NotFound(String),
}

impl Route {
    pub fn parse(path: &str) -> Route {
        let path = path.split(['?', '#']).next().unwrap_or("");
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        match parts.as_slice() {
            [] | ["configurations"] => Route::Configurations,
            ["login"] => Route::Login,
            ["audit"] => Route::Audit,
            ["templates"] => Route::Templates,
            ["hosts"] => Route::Hosts,
            ["members"] => Route::Members,
            ["tokens"] => Route::Tokens,
            ["sandbox"] => Route::Sandbox,
            ["configurations", id] => match id.parse::<i64>() {
                Ok(id) if id > 0 => Route::Editor(id),
                _ => Route::NotFound(path.to_owned()),
            },
            ["configurations", id, "history"] => match id.parse::<i64>() {
                Ok(id) if id > 0 => Route::History(id),
                _ => Route::NotFound(path.to_owned()),
            },
            ["configurations", id, "deployments"] => match id.parse::<i64>() {
                Ok(id) if id > 0 => Route::Deployments(id),
                _ => Route::NotFound(path.to_owned()),
            },
            ["configurations", id, "versions", v] => match (id.parse::<i64>(), v.parse::<i64>()) {
                (Ok(id), Ok(v)) if id > 0 && v > 0 => Route::Version(id, v),
                _ => Route::NotFound(path.to_owned()),
            },
            _ => Route::NotFound(path.to_owned()),
        }
    }

    pub fn path(&self) -> String {
        match self {
            Route::Login => "/login".to_owned(),
            Route::Configurations => "/configurations".to_owned(),
            Route::Editor(id) => format!("/configurations/{id}"),
            Route::Version(id, v) => format!("/configurations/{id}/versions/{v}"),
            Route::History(id) => format!("/configurations/{id}/history"),
            Route::Deployments(id) => format!("/configurations/{id}/deployments"),
            Route::Audit => "/audit".to_owned(),
            Route::Templates => "/templates".to_owned(),
            Route::Hosts => "/hosts".to_owned(),
            Route::Members => "/members".to_owned(),
            Route::Tokens => "/tokens".to_owned(),
            Route::Sandbox => "/sandbox".to_owned(),
            Route::NotFound(p) => p.clone(),
        }
    }

    /// Whether the screen needs a logged-in user.
    pub fn needs_session(&self) -> bool {
        !matches!(self, Route::Login | Route::Sandbox | Route::NotFound(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        for r in [
            Route::Login,
            Route::Configurations,
            Route::Editor(7),
            Route::Version(7, 2),
            Route::History(7),
            Route::Deployments(7),
            Route::Audit,
            Route::Templates,
            Route::Hosts,
            Route::Members,
            Route::Tokens,
            Route::Sandbox,
        ] {
            assert_eq!(Route::parse(&r.path()), r);
        }
        assert_eq!(Route::parse("/"), Route::Configurations);
        assert_eq!(Route::parse("/configurations/7?x=1"), Route::Editor(7));
        assert_eq!(
            Route::parse("/configurations/-1"),
            Route::NotFound("/configurations/-1".into())
        );
        assert_eq!(Route::parse("/nope"), Route::NotFound("/nope".into()));
    }
}
