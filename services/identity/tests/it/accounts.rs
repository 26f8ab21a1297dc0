//! Who may make or reset a person's local login, change the SNILS her
//! first Gosuslugi (ESIA) login links by, or end her Gosuslugi link: an
//! admin whose authority covers everything the login would open (every role
//! of the person and, for a parent, every school of her children), and no
//! admin at all for a password of a person the region lets in only through
//! ESIA.

use std::time::Duration;

use asurso_proto::{common::CivilDate, identity as pb};
use tonic::Code;
use uuid::Uuid;

use crate::{
    esia_support::{CONFIRMED_PARENT, dev_esia, esia_login, esia_world, refresh_refused},
    support::{
        Clients, Identity, Remote, Service as _, World, grant_role, parents_with_passwords,
        password_of, person, pupil, register_at, replace_temporary_password, snils,
    },
};

/// Registers someone at `school` through `admin`, born as `correct` keeps
/// them; their id.
async fn register(
    admin: &mut Clients,
    school: Uuid,
    role: pb::Role,
    name: (&str, &str),
    snils: &str,
) -> anyhow::Result<String> {
    register_at(
        admin,
        school,
        role,
        person(name.0, name.1, snils, (1986, 6, 6)),
    )
    .await
}

async fn link(admin: &mut Clients, parent: &str, student: &str) -> Result<(), tonic::Status> {
    admin
        .people
        .link_guardian(pb::LinkGuardianRequest {
            parent_id: parent.to_owned(),
            student_id: student.to_owned(),
        })
        .await?;
    Ok(())
}

async fn unlink(admin: &mut Clients, parent: &str, student: &str) -> Result<(), tonic::Status> {
    admin
        .people
        .unlink_guardian(pb::UnlinkGuardianRequest {
            parent_id: parent.to_owned(),
            student_id: student.to_owned(),
        })
        .await?;
    Ok(())
}

/// A mother registered at school A with `mother_snils`, her son a pupil
/// there and her daughter a pupil of school B (SNILS from `children_seed`
/// on); no one linked yet.
struct Family {
    mother: String,
    son: String,
    daughter: String,
}

/// A mother registered at school A with `snils`; her id.
async fn mother_at_a(world: &mut World, snils: &str) -> anyhow::Result<String> {
    let school_a = world.school_a;
    register(
        &mut world.admin_a,
        school_a,
        pb::Role::Parent,
        ("Матерева", "Анна"),
        snils,
    )
    .await
}

async fn family(
    world: &mut World,
    mother_snils: &str,
    children_seed: u32,
) -> anyhow::Result<Family> {
    let school_b = world.school_b;
    let mother = mother_at_a(world, mother_snils).await?;
    let son = pupil(world, "Матерев", "Илья", children_seed).await?;
    let daughter = register(
        &mut world.admin_b,
        school_b,
        pb::Role::Student,
        ("Матерева", "Ева"),
        &snils(children_seed + 1),
    )
    .await?;
    Ok(Family {
        mother,
        son,
        daughter,
    })
}

/// The family, the mother linked to both children, each by the admin of the
/// child's school.
async fn mother_of_two_schools(
    world: &mut World,
    mother_snils: &str,
    children_seed: u32,
) -> anyhow::Result<Family> {
    let family = family(world, mother_snils, children_seed).await?;
    link(&mut world.admin_a, &family.mother, &family.son).await?;
    link(&mut world.admin_b, &family.mother, &family.daughter).await?;
    Ok(family)
}

/// A father registered at school A (SNILS from `seed`) whose two children
/// are pupils there, linked by its admin; his id.
async fn father_of_two_here(world: &mut World, seed: u32) -> anyhow::Result<String> {
    let school = world.school_a;
    let father = register(
        &mut world.admin_a,
        school,
        pb::Role::Parent,
        ("Отцов", "Пётр"),
        &snils(seed),
    )
    .await?;
    for (first, seed) in [("Олег", seed + 1), ("Ольга", seed + 2)] {
        let child = pupil(world, "Отцов", first, seed).await?;
        link(&mut world.admin_a, &father, &child).await?;
    }
    Ok(father)
}

/// A municipal admin over both schools, logged in.
async fn municipal_admin(world: &mut World, seed: u32) -> anyhow::Result<Clients> {
    let municipality = world.municipality;
    let (municipal, _) = world
        .user(
            municipality,
            pb::Role::MunicipalAdmin,
            "municipal.admin",
            seed,
        )
        .await?;
    Ok(municipal)
}

/// The temporary password `admin` gets for the person's login, or why not.
async fn make_login(
    admin: &mut Clients,
    person: &str,
    login: &str,
) -> Result<String, tonic::Status> {
    Ok(admin
        .auth
        .create_local_account(pb::CreateLocalAccountRequest {
            person_id: person.to_owned(),
            login: login.to_owned(),
        })
        .await?
        .into_inner()
        .temporary_password)
}

/// `admin` gives the person a login; its holder replaces the temporary
/// password and logs in.
async fn give_login(
    identity: &Identity,
    admin: &mut Clients,
    person: &str,
    login: &str,
) -> anyhow::Result<pb::LoginResponse> {
    let temporary = make_login(admin, person, login).await?;
    replace_temporary_password(identity, login, temporary).await?;
    identity.login(login, &password_of(login)).await
}

/// The person's stored login: (password hash, must change it).
async fn stored_account(world: &World, person: &str) -> anyhow::Result<Option<(String, bool)>> {
    Ok(sqlx::query_as(
        "SELECT password_hash, password_change_required FROM accounts WHERE person_id = $1",
    )
    .bind(Uuid::parse_str(person)?)
    .fetch_optional(&world.identity.db.pool)
    .await?)
}

async fn set_policy(
    world: &mut World,
    from: Option<time::Date>,
    students_too: bool,
) -> anyhow::Result<()> {
    world
        .admin
        .federation
        .set_login_policy(pb::SetLoginPolicyRequest {
            policy: Some(pb::LoginPolicy {
                region_id: world.region.to_string(),
                esia_required_from: from.map(|date| CivilDate {
                    year: date.year(),
                    month: i32::from(u8::from(date.month())),
                    day: i32::from(date.day()),
                }),
                students_too,
            }),
        })
        .await?;
    Ok(())
}

fn roles(login: &pb::LoginResponse) -> Vec<i32> {
    login.grants.iter().map(|grant| grant.role).collect()
}

#[tokio::test]
async fn a_director_cannot_take_over_a_parent_whose_child_studies_in_another_school()
-> anyhow::Result<()> {
    let mut world = World::new().await?;
    // A mother registered at school A: her son studies there, her daughter
    // in school B (whose admin linked her).
    let Family {
        mother, daughter, ..
    } = mother_of_two_schools(&mut world, &snils(1701), 1702).await?;

    // School A's director would read school B's diary with her login.
    let refused = make_login(&mut world.admin_a, &mother, "mother.takeover")
        .await
        .err();
    assert_eq!(
        refused.as_ref().map(tonic::Status::code),
        Some(Code::PermissionDenied)
    );
    assert!(
        refused.is_some_and(|s| s.message().contains("person_id")
            && s.message().contains("Школа № 2")),
        "the refusal names the school out of reach"
    );
    assert_eq!(stored_account(&world, &mother).await?, None);

    // A municipal admin, over both schools, gives her the login.
    let mut municipal = municipal_admin(&mut world, 1704).await?;
    let session = give_login(&world.identity, &mut municipal, &mother, "mother").await?;
    let stored = stored_account(&world, &mother).await?;

    // Nor may school A's director reset it: her password and her session
    // stand as they were.
    let refused = make_login(&mut world.admin_a, &mother, "mother")
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(refused, Some(Code::PermissionDenied));
    assert_eq!(stored_account(&world, &mother).await?, stored);
    world
        .identity
        .anonymous()
        .await?
        .auth
        .refresh(pb::RefreshRequest {
            refresh_token: session.tokens.map(|t| t.refresh_token).unwrap_or_default(),
            grant_id: String::new(),
        })
        .await?;
    world
        .identity
        .login("mother", &password_of("mother"))
        .await?;

    // Once the daughter is no longer hers, school A's director manages the
    // login again: the reach is what stands now.
    unlink(&mut world.admin_b, &mother, &daughter).await?;
    make_login(&mut world.admin_a, &mother, "mother").await?;
    world.identity.stop().await
}

#[tokio::test]
async fn a_director_gives_a_login_to_a_parent_whose_children_all_study_in_the_school()
-> anyhow::Result<()> {
    let mut world = World::new().await?;
    let father = father_of_two_here(&mut world, 1711).await?;
    let login = give_login(&world.identity, &mut world.admin_a, &father, "father").await?;
    assert_eq!(roles(&login), vec![i32::from(pb::Role::Parent)]);

    // A forgotten password: the director resets it; the old one is over.
    let temporary = make_login(&mut world.admin_a, &father, "father").await?;
    let old = world
        .identity
        .login("father", &password_of("father"))
        .await
        .err();
    assert!(old.is_some(), "the old password still logged in");
    replace_temporary_password(&world.identity, "father", temporary).await?;
    world
        .identity
        .login("father", &password_of("father"))
        .await?;
    world.identity.stop().await
}

#[tokio::test]
async fn no_admin_makes_or_resets_a_password_for_a_role_the_region_keeps_for_esia()
-> anyhow::Result<()> {
    let mut world = World::new().await?;
    let school = world.school_a;
    // Before any policy: a parent with a password, a teacher who is also a
    // parent, a parent without a login yet, and two pupils.
    let before =
        parents_with_passwords(&mut world, "parent.before", "teacher.parent", 1801).await?;
    let (veteran, teacher) = (before.parent.to_string(), before.teacher);
    let newcomer = register(
        &mut world.admin_a,
        school,
        pb::Role::Parent,
        ("Новикова", "Вера"),
        &snils(1803),
    )
    .await?;
    let mut pupils = Vec::new();
    for (first, seed) in [("Саша", 1804), ("Маша", 1805)] {
        pupils.push(pupil(&mut world, "Ученикова", first, seed).await?);
    }

    // From today parents of the region log in only through ESIA.
    let today = time::OffsetDateTime::now_utc().date();
    set_policy(&mut world, Some(today), false).await?;

    // No admin, the region's own included, makes the newcomer a password.
    for admin in [&mut world.admin_a, &mut world.admin] {
        let refused = make_login(admin, &newcomer, "newcomer").await.err();
        assert_eq!(
            refused.as_ref().map(tonic::Status::code),
            Some(Code::FailedPrecondition)
        );
        assert!(
            refused.is_some_and(|s| s.message().contains("person_id")
                && s.message().contains("Gosuslugi")
                && s.message().contains("parents")),
            "the refusal says why"
        );
    }
    assert_eq!(stored_account(&world, &newcomer).await?, None);

    // Nor resets the veteran's: what is stored stays as it was, and her
    // own password no longer logs her in from today.
    let stored = stored_account(&world, &veteran).await?;
    let refused = make_login(&mut world.admin_a, &veteran, "parent.before")
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(refused, Some(Code::FailedPrecondition));
    assert_eq!(stored_account(&world, &veteran).await?, stored);
    let refused = world
        .identity
        .login("parent.before", &password_of("parent.before"))
        .await
        .err()
        .map(|error| error.to_string());
    assert!(
        refused
            .as_deref()
            .is_some_and(|e| e.contains("only through Gosuslugi")),
        "{refused:?}"
    );

    // Staff keep theirs: the teacher's password is reset, and it opens the
    // teacher role only.
    let login = give_login(
        &world.identity,
        &mut world.admin_a,
        &teacher.to_string(),
        "teacher.parent",
    )
    .await?;
    assert_eq!(roles(&login), vec![i32::from(pb::Role::Teacher)]);

    // Pupils get passwords until the region keeps students to ESIA too.
    make_login(&mut world.admin_a, &pupils[0], "pupil.one").await?;
    set_policy(&mut world, Some(today), true).await?;
    let refused = make_login(&mut world.admin_a, &pupils[1], "pupil.two")
        .await
        .err();
    assert_eq!(
        refused.as_ref().map(tonic::Status::code),
        Some(Code::FailedPrecondition)
    );
    assert!(refused.is_some_and(|s| s.message().contains("students")));

    // A date still ahead is not in force yet, and without a date the rule
    // does not apply at all.
    set_policy(&mut world, today.next_day(), false).await?;
    make_login(&mut world.admin_a, &newcomer, "newcomer").await?;
    set_policy(&mut world, None, false).await?;
    let login = give_login(
        &world.identity,
        &mut world.admin_a,
        &veteran,
        "parent.before",
    )
    .await?;
    assert_eq!(roles(&login), vec![i32::from(pb::Role::Parent)]);
    world.identity.stop().await
}

/// `admin` corrects the person's record: `name` and `snils`, born as
/// `register` registers people.
async fn correct(
    admin: &mut Clients,
    person_id: &str,
    name: (&str, &str),
    snils: &str,
) -> Result<pb::Person, tonic::Status> {
    Ok(admin
        .people
        .update_person(pb::UpdatePersonRequest {
            person_id: person_id.to_owned(),
            person: Some(person(name.0, name.1, snils, (1986, 6, 6))),
        })
        .await?
        .into_inner()
        .person
        .unwrap_or_default())
}

/// The person as `admin` reads them (SNILS in full for her own school's).
async fn read(admin: &mut Clients, person_id: &str) -> anyhow::Result<pb::Person> {
    Ok(admin
        .people
        .get_person(pb::GetPersonRequest {
            person_id: person_id.to_owned(),
        })
        .await?
        .into_inner()
        .person
        .unwrap_or_default())
}

async fn unlink_account(admin: &mut Clients, person_id: &str) -> Result<(), tonic::Status> {
    admin
        .federation
        .unlink_account(pb::UnlinkAccountRequest {
            person_id: person_id.to_owned(),
        })
        .await?;
    Ok(())
}

async fn linked(admin: &mut Clients, person_id: &str) -> anyhow::Result<bool> {
    Ok(admin
        .federation
        .get_link(pb::GetLinkRequest {
            person_id: person_id.to_owned(),
        })
        .await?
        .into_inner()
        .linked)
}

#[track_caller]
fn assert_out_of_reach<T: std::fmt::Debug>(outcome: Result<T, tonic::Status>, field: &str) {
    match outcome {
        Ok(answer) => panic!("expected PERMISSION_DENIED, got {answer:?}"),
        Err(status) => {
            assert_eq!(
                status.code(),
                Code::PermissionDenied,
                "{}",
                status.message()
            );
            assert!(
                status.message().contains(field) && status.message().contains("Школа № 2"),
                "the refusal names {field} and the school out of reach: {:?}",
                status.message()
            );
        }
    }
}

#[tokio::test]
async fn a_director_cannot_point_a_parent_s_gosuslugi_login_at_an_account_of_their_own()
-> anyhow::Result<()> {
    let provider = dev_esia(Duration::from_secs(60)).await?;
    let mut world = esia_world(&provider).await?;
    let registered = snils(1721);
    let Family { mother, .. } = mother_of_two_schools(&mut world, &registered, 1702).await?;

    // School A's director puts the SNILS of a Gosuslugi account they hold
    // on her record: refused, and her record keeps her own SNILS.
    assert_out_of_reach(
        correct(
            &mut world.admin_a,
            &mother,
            ("Матерева", "Анна"),
            CONFIRMED_PARENT.1,
        )
        .await,
        "person.snils",
    );
    assert_eq!(read(&mut world.admin_a, &mother).await?.snils, registered);
    // So that account's first login finds no one to link to.
    let mut anonymous = world.identity.anonymous().await?;
    let refused = esia_login(&mut anonymous, CONFIRMED_PARENT.0)
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(refused, Some(Code::NotFound));

    // What does not decide who logs in stays the director's to correct.
    let renamed = correct(
        &mut world.admin_a,
        &mother,
        ("Матерева", "Анна-Мария"),
        &registered,
    )
    .await?;
    assert_eq!(renamed.first_name, "Анна-Мария");
    assert_eq!(renamed.snils, registered);

    // A municipal admin, over both schools, may change it: the next first
    // login with that SNILS is hers.
    let mut municipal = municipal_admin(&mut world, 1724).await?;
    correct(
        &mut municipal,
        &mother,
        ("Матерева", "Анна-Мария"),
        CONFIRMED_PARENT.1,
    )
    .await?;
    let first = esia_login(&mut anonymous, CONFIRMED_PARENT.0).await?;
    assert!(first.linked_now);
    assert_eq!(
        first.active_grant.map(|g| g.person_id).unwrap_or_default(),
        mother
    );

    // Linked, she still keeps her SNILS out of the director's hands: an
    // unlink would open the next first login to whoever bears it.
    assert_out_of_reach(
        correct(
            &mut world.admin_a,
            &mother,
            ("Матерева", "Анна-Мария"),
            &snils(1725),
        )
        .await,
        "person.snils",
    );
    assert_eq!(
        read(&mut world.admin_a, &mother).await?.snils,
        CONFIRMED_PARENT.1
    );
    provider.stop().await;
    world.identity.stop().await
}

#[tokio::test]
async fn a_director_cannot_unlink_the_gosuslugi_account_of_a_parent_whose_child_studies_in_another_school()
-> anyhow::Result<()> {
    let provider = dev_esia(Duration::from_secs(60)).await?;
    let mut world = esia_world(&provider).await?;
    let Family {
        mother, daughter, ..
    } = mother_of_two_schools(&mut world, CONFIRMED_PARENT.1, 1702).await?;
    let mut anonymous = world.identity.anonymous().await?;
    let session = esia_login(&mut anonymous, CONFIRMED_PARENT.0).await?;
    let refresh = || {
        session
            .tokens
            .as_ref()
            .map(|t| t.refresh_token.clone())
            .unwrap_or_default()
    };

    // School A's director would end her Gosuslugi sessions and free her
    // for a new first login: refused, and nothing of hers ends.
    assert_out_of_reach(
        unlink_account(&mut world.admin_a, &mother).await,
        "person_id",
    );
    assert!(linked(&mut world.admin_a, &mother).await?);
    assert_eq!(refresh_refused(&mut anonymous, refresh()).await, None);

    // Once the daughter is no longer hers, the director may: the reach is
    // what stands now, and her Gosuslugi sessions end with the link.
    unlink(&mut world.admin_b, &mother, &daughter).await?;
    unlink_account(&mut world.admin_a, &mother).await?;
    assert!(!linked(&mut world.admin_a, &mother).await?);
    assert_eq!(
        refresh_refused(&mut anonymous, refresh()).await,
        Some(Code::Unauthenticated)
    );
    provider.stop().await;
    world.identity.stop().await
}

#[tokio::test]
async fn a_director_corrects_the_snils_and_unlinks_gosuslugi_for_a_parent_whose_children_all_study_in_the_school()
-> anyhow::Result<()> {
    let provider = dev_esia(Duration::from_secs(60)).await?;
    let mut world = esia_world(&provider).await?;
    let father = father_of_two_here(&mut world, 1731).await?;

    // The school typed his SNILS wrong; the director corrects it, and his
    // first Gosuslugi login links to him.
    let corrected = correct(
        &mut world.admin_a,
        &father,
        ("Отцов", "Пётр"),
        CONFIRMED_PARENT.1,
    )
    .await?;
    assert_eq!(corrected.snils, CONFIRMED_PARENT.1);
    let mut anonymous = world.identity.anonymous().await?;
    let first = esia_login(&mut anonymous, CONFIRMED_PARENT.0).await?;
    assert!(first.linked_now);
    assert_eq!(
        first
            .active_grant
            .as_ref()
            .map(|g| g.person_id.clone())
            .unwrap_or_default(),
        father
    );

    // The director ends the link; his Gosuslugi sessions end with it.
    unlink_account(&mut world.admin_a, &father).await?;
    assert!(!linked(&mut world.admin_a, &father).await?);
    let refresh = first.tokens.map(|t| t.refresh_token).unwrap_or_default();
    assert_eq!(
        refresh_refused(&mut anonymous, refresh).await,
        Some(Code::Unauthenticated)
    );
    provider.stop().await;
    world.identity.stop().await
}

/// Whether `parent` is linked to `student`, as stored.
async fn is_linked(world: &World, parent: &str, student: &str) -> anyhow::Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM guardians WHERE parent_id = $1 AND student_id = $2)",
    )
    .bind(Uuid::parse_str(parent)?)
    .bind(Uuid::parse_str(student)?)
    .fetch_one(&world.identity.db.pool)
    .await?)
}

/// Asserts PERMISSION_DENIED whose message says each of `said`.
#[track_caller]
fn assert_denied(outcome: Result<(), tonic::Status>, said: &[&str]) {
    match outcome {
        Ok(()) => panic!("expected PERMISSION_DENIED saying {said:?}, but it was done"),
        Err(status) => {
            assert_eq!(
                status.code(),
                Code::PermissionDenied,
                "{}",
                status.message()
            );
            for text in said {
                assert!(
                    status.message().contains(text),
                    "{:?} does not say {text:?}",
                    status.message()
                );
            }
        }
    }
}

/// A municipal admin over both schools, whom the region lets manage
/// guardians (by default only a school's admin does, in their school).
async fn municipal_guardian_manager(world: &mut World, seed: u32) -> anyhow::Result<Clients> {
    world
        .admin
        .access
        .set_right(pb::SetRightRequest {
            org_unit_id: world.region.to_string(),
            setting: Some(pb::RightSetting {
                role: pb::Role::MunicipalAdmin.into(),
                right: "guardians.manage".to_owned(),
                allowed: true,
                adjustable: false,
            }),
        })
        .await?;
    municipal_admin(world, seed).await
}

#[tokio::test]
async fn a_director_cannot_unlink_and_relink_a_parent_whose_child_also_studies_in_another_school()
-> anyhow::Result<()> {
    let mut world = World::new().await?;
    let (school_a, school_b) = (world.school_a, world.school_b);
    // Eva is registered at school A, her mother too, and linked there.
    let mother = mother_at_a(&mut world, &snils(1741)).await?;
    let eva = pupil(&mut world, "Матерева", "Ева", 1742).await?;
    link(&mut world.admin_a, &mother, &eva).await?;
    // She goes on to study at school B, whose admin makes her its student;
    // her record stays at school A.
    grant_role(&mut world.admin_b, &eva, pb::Role::Student, school_b).await?;

    // School A's director would unlink the mother, give her a password
    // (her reach then only school A) and link her back: the unlink is
    // refused, and so is the login it was for.
    assert_denied(
        unlink(&mut world.admin_a, &mother, &eva).await,
        &["student_id", "Школа № 2"],
    );
    assert!(is_linked(&world, &mother, &eva).await?);
    let refused = make_login(&mut world.admin_a, &mother, "mother")
        .await
        .err()
        .map(|s| s.code());
    assert_eq!(refused, Some(Code::PermissionDenied));
    assert_eq!(stored_account(&world, &mother).await?, None);
    // Nor may school B's director alone: the link is school A's business
    // too.
    assert_denied(
        unlink(&mut world.admin_b, &mother, &eva).await,
        &["student_id", "Школа № 1"],
    );
    assert!(is_linked(&world, &mother, &eva).await?);

    // Had the link ended (a municipal admin over both schools ends it),
    // the director may give the mother a login for school A; but not link
    // her back to Eva with it.
    let mut municipal = municipal_guardian_manager(&mut world, 1743).await?;
    unlink(&mut municipal, &mother, &eva).await?;
    assert!(!is_linked(&world, &mother, &eva).await?);
    make_login(&mut world.admin_a, &mother, "mother").await?;
    assert_denied(
        link(&mut world.admin_a, &mother, &eva).await,
        &["student_id", "Школа № 2"],
    );
    assert!(!is_linked(&world, &mother, &eva).await?);

    // An admin over both schools links Eva's father, who has no login.
    let father = register(
        &mut world.admin_a,
        school_a,
        pb::Role::Parent,
        ("Матерев", "Олег"),
        &snils(1744),
    )
    .await?;
    link(&mut municipal, &father, &eva).await?;
    assert!(is_linked(&world, &father, &eva).await?);
    world.identity.stop().await
}

#[tokio::test]
async fn a_parent_s_password_from_one_school_does_not_carry_into_another_through_a_new_child()
-> anyhow::Result<()> {
    let mut world = World::new().await?;
    // A mother registered at school A, whose son studies there: school A's
    // director gives her a password and links her son (her login opens
    // nothing beyond school A). Her daughter is a pupil of school B.
    let Family {
        mother,
        son,
        daughter,
    } = family(&mut world, &snils(1751), 1752).await?;
    let temporary = make_login(&mut world.admin_a, &mother, "mother").await?;
    replace_temporary_password(&world.identity, "mother", temporary).await?;
    link(&mut world.admin_a, &mother, &son).await?;
    assert!(is_linked(&world, &mother, &son).await?);

    // School B's director would link her daughter to her, and the password
    // school A's director gave would open school B: refused, saying why,
    // and nothing is linked.
    assert_denied(
        link(&mut world.admin_b, &mother, &daughter).await,
        &["parent_id", "local login", "Школа № 1"],
    );
    assert!(!is_linked(&world, &mother, &daughter).await?);
    // Nor may school A's director, who has no say over school B's pupils.
    assert_denied(
        link(&mut world.admin_a, &mother, &daughter).await,
        &["student_id", "Школа № 2"],
    );
    assert!(!is_linked(&world, &mother, &daughter).await?);
    // Her own password works as before.
    world
        .identity
        .login("mother", &password_of("mother"))
        .await?;

    // An admin over both schools, who could give her the login anew, links
    // them; her login now shows both children.
    let mut municipal = municipal_guardian_manager(&mut world, 1754).await?;
    link(&mut municipal, &mother, &daughter).await?;
    let login = world
        .identity
        .login("mother", &password_of("mother"))
        .await?;
    let children = world
        .identity
        .clients(Some(&crate::support::access_token(&login)))
        .await?
        .people
        .list_children(pb::ListChildrenRequest::default())
        .await?
        .into_inner()
        .children;
    let mut ids: Vec<String> = children.into_iter().map(|child| child.id).collect();
    let mut expected = vec![son, daughter];
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected);
    world.identity.stop().await
}

#[tokio::test]
async fn a_burst_of_logins_waits_for_a_hasher_holding_no_database_connection() -> anyhow::Result<()>
{
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };

    let world = World::new().await?;
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    // Far more logins at once than hashers (one per core), and more than
    // the pool's connections: were a waiting login to hold one, the pool
    // would run dry and everything else identity does would time out.
    let burst = 8 * cores + 8;
    let peak = Arc::new(AtomicUsize::new(0));
    let watcher = tokio::spawn({
        let (pool, peak) = (world.identity.db.pool.clone(), Arc::clone(&peak));
        async move {
            loop {
                let in_use = (pool.size() as usize).saturating_sub(pool.num_idle());
                peak.fetch_max(in_use, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    let mut logins = tokio::task::JoinSet::new();
    for n in 0..burst {
        let address = world.identity.address().to_owned();
        let login = format!("admin{}", n % 2);
        logins.spawn(async move {
            Remote { address }
                .login(&login, &password_of(&login))
                .await
                .map(|answer| answer.tokens.is_some())
        });
    }
    let mut answered = 0;
    while let Some(login) = logins.join_next().await {
        assert!(login??, "a login was answered without tokens");
        answered += 1;
    }
    watcher.abort();
    assert_eq!(answered, burst, "every login of the burst is answered");
    // The hashing logins, plus a few for the relay and the rest.
    let peak = peak.load(Ordering::Relaxed);
    assert!(
        peak <= cores + 3,
        "{peak} connections were in use at once for {burst} logins on {cores} hashers"
    );
    world.identity.stop().await
}
