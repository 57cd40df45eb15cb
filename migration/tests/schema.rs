//! The schema the migrations build, on each backend, is the one in the snapshots
//! `tests/schema/sqlite.txt` and `tests/schema/postgres.txt`.
//!
//! The test runs every migration up on a fresh database, dumps the schema as sorted text
//! (tables, columns with type, nullability and default, keys, foreign keys with their
//! actions, indexes with uniqueness, order and partial predicates, views) and compares it
//! with the snapshot line by line. It then runs every migration down and up again and
//! expects the same dump. Rewriting a migration must leave the dumps unchanged; a new
//! migration updates the snapshots in the same commit:
//!
//! ```sh
//! JORNADA_UPDATE_SCHEMA_SNAPSHOT=1 \
//! JORNADA_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!     cargo test -p migration --test schema
//! ```
//!
//! The rows of `seaql_migrations` are left out (its structure is in).

mod common;

use std::path::PathBuf;

use migration::{Migrator, MigratorTrait};
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

#[tokio::test]
async fn sqlite_schema_matches_snapshot() {
    common::on_sqlite(|db| async move { schema_matches_snapshot(&db, "sqlite.txt").await }).await;
}

#[tokio::test]
async fn postgres_schema_matches_snapshot() {
    common::on_postgres(|db| async move { schema_matches_snapshot(&db, "postgres.txt").await })
        .await;
}

/// Every migration is named after its file, in file order: the names are recorded in
/// `seaql_migrations`, so a rewrite must not change them.
#[test]
fn migrations_are_named_after_their_files() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files: Vec<String> = std::fs::read_dir(&src)
        .expect("list migration/src")
        .filter_map(|entry| {
            let stem = entry
                .expect("a src entry")
                .path()
                .file_stem()?
                .to_str()?
                .to_owned();
            let is_migration = stem.starts_with('m') && stem[1..].starts_with(char::is_numeric);
            is_migration.then_some(stem)
        })
        .collect();
    files.sort();
    let migrations = Migrator::migrations();
    let names: Vec<&str> = migrations.iter().map(|m| m.name()).collect();
    assert_eq!(names, files);
}

async fn schema_matches_snapshot(db: &DatabaseConnection, snapshot: &str) {
    Migrator::up(db, None).await.expect("migrate up");
    let built = dump(db).await;

    Migrator::down(db, None).await.expect("migrate down");
    Migrator::up(db, None).await.expect("migrate up again");
    assert_same(&built, &dump(db).await, "schema after down and up again");

    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/schema")
        .join(snapshot);
    let text = built.join("\n") + "\n";
    if std::env::var_os("JORNADA_UPDATE_SCHEMA_SNAPSHOT").is_some() {
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "read {}: {e} (JORNADA_UPDATE_SCHEMA_SNAPSHOT=1 writes it)",
            path.display()
        )
    });
    let expected: Vec<String> = expected.lines().map(str::to_owned).collect();
    assert_same(&expected, &built, &format!("schema against {snapshot}"));
}

/// Fails with the lines only one side has (both sorted): `-` expected only, `+` actual only.
fn assert_same(expected: &[String], actual: &[String], what: &str) {
    let (mut e, mut a) = (0, 0);
    let mut diff = Vec::new();
    while e < expected.len() || a < actual.len() {
        match (expected.get(e), actual.get(a)) {
            (Some(x), Some(y)) if x == y => (e, a) = (e + 1, a + 1),
            (Some(x), Some(y)) if x > y => {
                diff.push(format!("+ {y}"));
                a += 1;
            }
            (Some(x), _) => {
                diff.push(format!("- {x}"));
                e += 1;
            }
            (None, Some(y)) => {
                diff.push(format!("+ {y}"));
                a += 1;
            }
            (None, None) => unreachable!("the loop stops when both sides are read"),
        }
    }
    assert!(
        diff.is_empty(),
        "{what} differs (- expected, + actual):\n{}",
        diff.join("\n")
    );
}

/// The schema as sorted lines, one fact each.
async fn dump(db: &DatabaseConnection) -> Vec<String> {
    let backend = db.get_database_backend();
    let queries = match backend {
        DbBackend::Sqlite => SQLITE_DUMP,
        DbBackend::Postgres => POSTGRES_DUMP,
        other => panic!("unsupported backend {other:?}"),
    };
    let mut lines = Vec::new();
    for sql in queries {
        let rows = db
            .query_all_raw(Statement::from_string(backend, *sql))
            .await
            .unwrap_or_else(|e| panic!("dump query failed: {e}\n{sql}"));
        for row in rows {
            let line: String = row.try_get("", "line").expect("a dump line");
            lines.push(one_line(&line));
        }
    }
    if backend == DbBackend::Sqlite {
        lines.extend(sqlite_table_clauses(db).await);
    }
    lines.sort();
    lines
}

/// `text` with every run of white space folded to one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Catalog queries for PostgreSQL, each returning one `line` per fact.
const POSTGRES_DUMP: &[&str] = &[
    "SELECT format('table %s', c.relname) AS line
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')",
    "SELECT format('column %s.%s %s %s %s default %s%s%s',
                   c.relname,
                   lpad((row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum))::text, 2, '0'),
                   a.attname, format_type(a.atttypid, a.atttypmod),
                   CASE WHEN a.attnotnull THEN 'not null' ELSE 'null' END,
                   coalesce(pg_get_expr(d.adbin, d.adrelid), 'none'),
                   CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text END,
                   CASE WHEN a.attgenerated <> ''
                        THEN ' generated ' || a.attgenerated::text END) AS line
     FROM pg_attribute a
     JOIN pg_class c ON c.oid = a.attrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
       AND a.attnum > 0 AND NOT a.attisdropped",
    "SELECT format('constraint %s.%s %s%s', c.relname, k.conname, pg_get_constraintdef(k.oid),
                   CASE WHEN k.contype = 'f'
                        THEN format(' [on delete %s, on update %s]', del.action, upd.action)
                        ELSE '' END) AS line
     FROM pg_constraint k
     LEFT JOIN (VALUES ('a', 'no action'), ('r', 'restrict'), ('c', 'cascade'),
                       ('n', 'set null'), ('d', 'set default'))
          AS del (code, action) ON del.code = k.confdeltype::text
     LEFT JOIN (VALUES ('a', 'no action'), ('r', 'restrict'), ('c', 'cascade'),
                       ('n', 'set null'), ('d', 'set default'))
          AS upd (code, action) ON upd.code = k.confupdtype::text
     JOIN pg_class c ON c.oid = k.conrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = current_schema()",
    "SELECT format('index %s.%s %s', tablename, indexname, indexdef) AS line
     FROM pg_indexes WHERE schemaname = current_schema()",
    "SELECT format('view %s %s', viewname, definition) AS line
     FROM pg_views WHERE schemaname = current_schema()",
    "SELECT format('sequence %s', sequence_name) AS line
     FROM information_schema.sequences WHERE sequence_schema = current_schema()",
    "SELECT format('trigger %s.%s %s', c.relname, t.tgname, pg_get_triggerdef(t.oid)) AS line
     FROM pg_trigger t
     JOIN pg_class c ON c.oid = t.tgrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = current_schema() AND NOT t.tgisinternal",
    "SELECT format('extension %s', extname) AS line FROM pg_extension",
];

/// Catalog queries for SQLite (pragma functions over `sqlite_master`), each returning
/// one `line` per fact. Tables are read through the pragmas, so the layout of their
/// `CREATE TABLE` text does not count; index, view and trigger text does (it carries
/// partial-index predicates and view bodies).
const SQLITE_DUMP: &[&str] = &[
    "SELECT printf('table %s', name) AS line
     FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
    "SELECT printf('column %s.%02d %s %s %s default %s pk %d hidden %d',
                   m.name, p.cid + 1, p.name, p.type,
                   CASE WHEN p.\"notnull\" THEN 'not null' ELSE 'null' END,
                   coalesce(p.dflt_value, 'none'), p.pk, p.hidden) AS line
     FROM sqlite_master m JOIN pragma_table_xinfo(m.name) p
     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
    "SELECT printf('foreign key %s (%s) references %s (%s) on delete %s on update %s match %s',
                   m.name, group_concat(f.\"from\", ', '), f.\"table\",
                   group_concat(f.\"to\", ', '), f.on_delete, f.on_update, f.\"match\") AS line
     FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f
     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
     GROUP BY m.name, f.id",
    "SELECT printf('index %s.%s unique %d origin %s partial %d',
                   m.name, i.name, i.\"unique\", i.origin, i.partial) AS line
     FROM sqlite_master m JOIN pragma_index_list(m.name) i
     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
    "SELECT printf('index column %s.%s.%d %s desc %d collation %s key %d',
                   m.name, i.name, x.seqno,
                   coalesce(x.name, CASE x.cid WHEN -1 THEN '<rowid>' ELSE '<expression>' END),
                   x.\"desc\", x.coll, x.key) AS line
     FROM sqlite_master m
     JOIN pragma_index_list(m.name) i
     JOIN pragma_index_xinfo(i.name) x
     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
    "SELECT printf('%s %s %s', type, name, sql) AS line
     FROM sqlite_master WHERE type IN ('index', 'view', 'trigger') AND sql IS NOT NULL",
];

/// What SQLite keeps only in a table's `CREATE TABLE` text: constraint names and CHECK
/// clauses.
async fn sqlite_table_clauses(db: &DatabaseConnection) -> Vec<String> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        ))
        .await
        .expect("read table definitions");
    let mut lines = Vec::new();
    for row in rows {
        let table: String = row.try_get("", "name").expect("table name");
        let sql: String = row.try_get("", "sql").expect("table sql");
        lines.extend(table_clauses(&table, &sql));
    }
    lines
}

/// The constraint names and CHECK clauses in `table`'s `CREATE TABLE` text.
fn table_clauses(table: &str, sql: &str) -> Vec<String> {
    let sql = one_line(sql);
    let names = after_keyword(&sql, "CONSTRAINT").into_iter().map(|rest| {
        let name = rest.split_whitespace().next().unwrap_or_default();
        format!("constraint name {table}.{name}")
    });
    let checks = after_keyword(&sql, "CHECK")
        .into_iter()
        .map(|rest| format!("check {table} {}", parenthesised(rest.trim_start())));
    names.chain(checks).collect()
}

#[test]
fn table_clauses_name_constraints_and_checks_only() {
    let sql = r#"CREATE TABLE "jobs" ( "checked_at" text, "attempts" integer
        CHECK ("attempts" >= (0)), CONSTRAINT "ck_jobs_kind" CHECK ("kind" IN ('a', 'b')) )"#;
    assert_eq!(
        table_clauses("jobs", sql),
        [
            r#"constraint name jobs."ck_jobs_kind""#,
            r#"check jobs ("attempts" >= (0))"#,
            r#"check jobs ("kind" IN ('a', 'b'))"#,
        ]
    );
}

/// The text after each occurrence of the word `keyword` (case-insensitive, outside of
/// longer names) in `sql`.
fn after_keyword<'a>(sql: &'a str, keyword: &str) -> Vec<&'a str> {
    let in_name = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '"');
    let upper = sql.to_ascii_uppercase();
    upper
        .match_indices(keyword.trim_end())
        .filter(|(at, word)| {
            !in_name(sql[..*at].chars().next_back())
                && !in_name(sql[at + word.len()..].chars().next())
        })
        .map(|(at, word)| &sql[at + word.len()..])
        .collect()
}

/// The balanced parenthesised group `text` starts with.
fn parenthesised(text: &str) -> &str {
    let mut depth = 0;
    for (at, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..=at];
                }
            }
            _ => {}
        }
    }
    text
}
