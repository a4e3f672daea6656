//! Teams and members through the real server and Postgres: admins invite users, who accept or
//! decline; admins change roles and remove members; roles take effect on the next request
//! (sessions and tokens alike); a team never loses its last admin; inviting does not tell
//! whether a user name exists; every change is audited.

#[macro_use]
mod common;

use common::{create_configuration, lines, Server};
use serde_json::json;

#[test]
fn admins_manage_members_and_roles_apply_at_once() {
    need_postgres!("members::admins_manage_members_and_roles_apply_at_once");
    let s = Server::start();
    s.create_user("ops", "admin", "alice");
    s.create_user("elsewhere", "viewer", "bob");
    s.create_user("other", "admin", "olga");
    let mut a = s.as_user("alice");
    let mut b = s.as_user("bob");

    // Bob is not in ops: the team does not exist for him.
    assert_eq!(
        b.get("/api/v1/teams/ops/configurations")
            .expect("list")
            .status,
        404
    );
    // Alice invites him as viewer: he is not in the team until he accepts.
    let r = a
        .send(
            "PUT",
            "/api/v1/teams/ops/members/bob",
            &json!({"role": "viewer"}),
        )
        .expect("invite");
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["status"], "invited");
    assert_eq!(r.json()["previous_role"], json!(null));
    assert_eq!(
        b.get("/api/v1/teams/ops/configurations")
            .expect("list")
            .status,
        404
    );
    let m = a.get("/api/v1/teams/ops/members").expect("members").json();
    assert_eq!(
        lines(&m["invitations"], &["/user", "/role", "/invited_by"]),
        vec!["bob viewer alice"]
    );
    let mine = b.get("/api/v1/invitations").expect("mine").json();
    assert_eq!(
        lines(&mine["invitations"], &["/team", "/role"]),
        vec!["ops viewer"]
    );
    // An invitation for a name without an account answers exactly the same.
    let r = a
        .send(
            "PUT",
            "/api/v1/teams/ops/members/nobody",
            &json!({"role": "viewer"}),
        )
        .expect("invite nobody");
    assert_eq!(r.status, 202, "{}", r.body);
    assert_eq!(r.json()["status"], "invited");
    // Only Bob answers his invitation; he accepts and sees the team at once.
    let mut o = s.as_user("olga");
    assert_eq!(
        o.send("POST", "/api/v1/invitations/ops/accept", &json!({}))
            .expect("olga")
            .status,
        404
    );
    let r = b
        .send("POST", "/api/v1/invitations/ops/accept", &json!({}))
        .expect("accept");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["role"], "viewer");
    assert_eq!(
        b.get("/api/v1/invitations").expect("mine").json()["invitations"],
        json!([])
    );
    assert_eq!(
        b.get("/api/v1/teams/ops/configurations")
            .expect("list")
            .status,
        200
    );
    let doc = common::corpus("one-disk-raw");
    let create = |c: &mut lockstep_tests::http::Client, name: &str| {
        create_configuration(c, "ops", name, &doc).status
    };
    assert_eq!(create(&mut b, "vm1"), 403);
    // A token Bob made for ops follows his role too.
    let t = b
        .send(
            "POST",
            "/api/v1/tokens",
            &json!({"name": "ci", "team": "ops"}),
        )
        .expect("token");
    assert_eq!(t.status, 201, "{}", t.body);
    let token = t.json()["token"].as_str().expect("token").to_owned();
    let mut bot = s.client();
    bot.bearer = Some(token);
    assert_eq!(create(&mut bot, "vm1"), 403);
    // Promoted to editor: both can now create.
    let r = a
        .send(
            "PUT",
            "/api/v1/teams/ops/members/bob",
            &json!({"role": "editor"}),
        )
        .expect("promote");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "member");
    assert_eq!(r.json()["previous_role"], "viewer");
    assert_eq!(create(&mut b, "vm1"), 201);
    assert_eq!(create(&mut bot, "vm2"), 201);

    let m = a.get("/api/v1/teams/ops/members").expect("members").json();
    assert_eq!(
        m["members"],
        json!([{"user_id": m["members"][0]["user_id"], "user": "alice", "role": "admin"},
               {"user_id": m["members"][1]["user_id"], "user": "bob", "role": "editor"}])
    );

    // Only admins manage members; tokens never do.
    let r = b
        .send(
            "PUT",
            "/api/v1/teams/ops/members/olga",
            &json!({"role": "admin"}),
        )
        .expect("put");
    assert_eq!(r.status, 403);
    let r = bot.get("/api/v1/teams/ops/members").expect("members");
    assert_eq!(r.status, 200);
    let r = bot
        .send("DELETE", "/api/v1/teams/ops/members/alice", &json!({}))
        .expect("delete");
    assert_eq!(r.status, 403);
    // Another team's admin cannot touch ops.
    let r = o
        .send(
            "PUT",
            "/api/v1/teams/ops/members/olga",
            &json!({"role": "admin"}),
        )
        .expect("put");
    assert_eq!(r.status, 404);
    // Bad input is named.
    let r = a
        .send(
            "PUT",
            "/api/v1/teams/ops/members/bob",
            &json!({"role": "owner"}),
        )
        .expect("put");
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (400, Some("bad_role"))
    );
    // The invitation for "nobody" is withdrawn like a member is removed.
    let r = a
        .send("DELETE", "/api/v1/teams/ops/members/nobody", &json!({}))
        .expect("withdraw");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["what"], "invitation");

    // The last admin can neither leave nor be demoted.
    let r = a
        .send(
            "PUT",
            "/api/v1/teams/ops/members/alice",
            &json!({"role": "editor"}),
        )
        .expect("demote");
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("no admin left"));
    let r = a
        .send("DELETE", "/api/v1/teams/ops/members/alice", &json!({}))
        .expect("leave");
    assert_eq!(r.status, 409);
    assert_eq!(
        a.get("/api/v1/teams/ops/members").expect("m").json()["members"][0]["role"],
        "admin"
    );

    // Removed: Bob and his token lose the team at once.
    let r = a
        .send("DELETE", "/api/v1/teams/ops/members/bob", &json!({}))
        .expect("remove");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        b.get("/api/v1/teams/ops/configurations")
            .expect("list")
            .status,
        404
    );
    assert_eq!(
        bot.get("/api/v1/teams/ops/configurations")
            .expect("list")
            .status,
        404
    );
    let r = a
        .send("DELETE", "/api/v1/teams/ops/members/bob", &json!({}))
        .expect("remove");
    assert_eq!(r.status, 404);

    // Every change is audited with the role before and after (refused ones too, with their
    // result: here only the successful ones).
    let e = a
        .get("/api/v1/audit?target_type=member&result=ok")
        .expect("audit")
        .json();
    assert_eq!(
        lines(
            &e["events"],
            &["/action", "/target_name", "/before/role", "/after/role"]
        ),
        vec![
            "member.remove bob editor -",
            "member.uninvite nobody viewer -",
            "member.update bob viewer editor",
            "member.join bob - viewer",
            "member.invite nobody - viewer",
            "member.invite bob - viewer"
        ]
    );
}

#[test]
fn a_declined_invitation_leaves_no_membership_and_taken_names_are_rate_limited() {
    need_postgres!(
        "members::a_declined_invitation_leaves_no_membership_and_taken_names_are_rate_limited"
    );
    let s = Server::start();
    s.create_user("ops", "admin", "alice");
    s.create_user("elsewhere", "viewer", "bob");
    let mut a = s.as_user("alice");
    let mut b = s.as_user("bob");
    let r = a
        .send(
            "PUT",
            "/api/v1/teams/ops/members/bob",
            &json!({"role": "admin"}),
        )
        .expect("invite");
    assert_eq!(r.status, 202, "{}", r.body);
    let r = b
        .send("DELETE", "/api/v1/invitations/ops", &json!({}))
        .expect("decline");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["status"], "declined");
    assert_eq!(b.get("/api/v1/teams/ops/members").expect("m").status, 404);
    let m = a.get("/api/v1/teams/ops/members").expect("m").json();
    assert_eq!(m["invitations"], json!([]));
    assert_eq!(lines(&m["members"], &["/user"]), vec!["alice"]);
    // A token cannot answer an invitation for its owner.
    a.send(
        "PUT",
        "/api/v1/teams/ops/members/bob",
        &json!({"role": "viewer"}),
    )
    .expect("invite again");
    let t = b
        .send(
            "POST",
            "/api/v1/tokens",
            &json!({"name": "ci", "team": "elsewhere"}),
        )
        .expect("token")
        .json();
    let mut bot = s.client();
    bot.bearer = t["token"].as_str().map(str::to_owned);
    assert_eq!(
        bot.send("POST", "/api/v1/invitations/ops/accept", &json!({}))
            .expect("bot")
            .status,
        403
    );

    // Probing team names: ten "taken" answers, then 429 for five minutes.
    for i in 0..10 {
        let r = b
            .send("POST", "/api/v1/teams", &json!({"name": "ops"}))
            .expect("probe");
        assert_eq!(r.status, 409, "probe {i}: {}", r.body);
    }
    let r = b
        .send("POST", "/api/v1/teams", &json!({"name": "ops"}))
        .expect("probe");
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.json()["code"], "too_many_requests");
    assert!(r.header("retry-after").is_some());
    // Alice is not affected.
    let r = a
        .send("POST", "/api/v1/teams", &json!({"name": "lab"}))
        .expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
}

#[test]
fn anyone_logged_in_creates_a_team_and_becomes_its_admin() {
    need_postgres!("members::anyone_logged_in_creates_a_team_and_becomes_its_admin");
    let s = Server::start();
    s.create_user("ops", "viewer", "vera");
    let mut v = s.as_user("vera");
    let r = v
        .send("POST", "/api/v1/teams", &json!({"name": "lab"}))
        .expect("create");
    assert_eq!(r.status, 201, "{}", r.body);
    let teams = v.get("/api/v1/teams").expect("teams").json();
    assert_eq!(
        lines(&teams["teams"], &["/team", "/role"]),
        vec!["lab admin", "ops viewer"]
    );
    let r = v
        .send("POST", "/api/v1/teams", &json!({"name": "ops"}))
        .expect("create");
    assert_eq!(r.status, 409);
    for bad in ["", " lab2", "a/b", &"x".repeat(65)] {
        let r = v
            .send("POST", "/api/v1/teams", &json!({"name": bad}))
            .expect("create");
        assert_eq!(r.status, 400, "{bad:?}: {}", r.body);
    }
    let e = v
        .get("/api/v1/audit?action=team.create")
        .expect("audit")
        .json();
    assert_eq!(e["events"][0]["target_name"], "lab");
}
