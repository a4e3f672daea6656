//! `lockstep admin create-user` and `lockstep audit verify`.

use crate::audit::{self, NewEvent};
use crate::auth;
use crate::db::{self, configs::is_unique_violation};
use crate::serve::{block_on, describe, open_database, DbArgs};
use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use lockstep_shared::api::AuditTarget;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a user in a team (the team is created when missing). The password comes from
    /// LOCKSTEP_PASSWORD, or a random one is printed once.
    CreateUser(CreateUser),
}

#[derive(Args)]
pub struct CreateUser {
    #[arg(long)]
    team: String,
    /// viewer, editor, deployer or admin.
    #[arg(long)]
    role: String,
    user: String,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Walk the hash chain; exit 1 naming the first altered or missing event.
    Verify(Verify),
}

#[derive(Args)]
pub struct Verify {
    #[command(flatten)]
    db: DbArgs,
}

pub fn admin(cmd: AdminCommand) -> ExitCode {
    match cmd {
        AdminCommand::CreateUser(a) => block_on(create_user(a)),
    }
}

async fn create_user(a: CreateUser) -> Result<()> {
    if auth::Role::parse(&a.role).is_none() {
        bail!("role {:?} is not viewer, editor, deployer or admin", a.role);
    }
    if let Some(problem) = lockstep_shared::text::name_problem("user", &a.user, 64) {
        bail!("{problem}");
    }
    if a.user.chars().any(char::is_whitespace) {
        bail!("user name {:?} must not contain spaces", a.user);
    }
    if let Some(problem) = lockstep_shared::text::name_problem("team", &a.team, 64) {
        bail!("{problem}");
    }
    let (password, generated) = match std::env::var("LOCKSTEP_PASSWORD") {
        Ok(p) if p.len() >= 8 => (p, false),
        Ok(_) => bail!("LOCKSTEP_PASSWORD must have at least 8 characters"),
        Err(_) => (auth::random_hex(12), true),
    };
    let hash = auth::hash_password(&password)?;
    let (db, _pg) = open_database(&a.db).await?;
    let mut tx = db.begin().await?;
    let (user_id, team_id) =
        match db::accounts::create_user(&mut tx, &a.team, &a.role, &a.user, &hash).await {
            Ok(ids) => ids,
            Err(e) if is_unique_violation(&e) => bail!("user {:?} already exists", a.user),
            Err(e) => return Err(e),
        };
    let mut e = NewEvent::new(
        None,
        "lockstep admin (command line)",
        Some(team_id),
        "user.create",
        AuditTarget::User,
        Some(user_id.to_string()),
    );
    e.target_name = Some(a.user.clone());
    e.after = Some(serde_json::json!({"team": a.team, "role": a.role}));
    e.source = Some("cli".into());
    db::audit::append(&mut tx, &e).await?;
    tx.commit().await?;
    println!(
        "created user {:?} ({}) in team {:?} ({})",
        a.user,
        a.role,
        a.team,
        describe(&a.db)
    );
    if generated {
        println!("password (shown once): {password}");
    }
    Ok(())
}

pub fn audit_cmd(cmd: AuditCommand) -> ExitCode {
    match cmd {
        AuditCommand::Verify(v) => block_on(verify(v)),
    }
}

async fn verify(v: Verify) -> Result<()> {
    let (db, _pg) = open_database(&v.db).await?;
    let events = db.audit_all().await?;
    let last = events.last().map(|e| (e.hash.clone(), e.id));
    let n = audit::verify(&events).map_err(|e| anyhow::anyhow!("{e}"))?;
    // The head row records the newest event: removing events from the end shows up here.
    let (head_hash, head_id) = db.audit_head().await?;
    match (last, head_id) {
        (None, None) => {}
        (Some((hash, id)), Some(hid)) if hash == head_hash && id == hid => {}
        (Some((_, id)), Some(hid)) => bail!(
            "the chain ends at event {id} but its head records event {hid}: the newest events were removed"
        ),
        (None, Some(hid)) => bail!("the chain is empty but its head records event {hid}: events were removed"),
        (Some((_, id)), None) => bail!("event {id} exists but the chain head records none"),
    }
    // Every configuration version matches the digest its event recorded.
    let versions = audit::verify_versions(&events, db.all_version_documents().await?)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "audit chain intact: {n} events verified; {versions} configuration versions match their events"
    );
    Ok(())
}
