//! The rollups' background work (`db::rollups`): the backfill before the
//! server answers, the folder, and the daily retention pass.

use std::time::Duration;

use actix_web::web;

use super::done;
use crate::state::AppState;

/// Results digested per transaction by the backfill.
const BACKFILL_BATCH: u64 = 200_000;

/// Digests the runs stored before rollups existed (migration 19) and folds
/// the digests, before the server answers (so no read decodes a backlog):
/// batch by batch, each its own transaction, so an interrupted backfill
/// resumes where it stopped.
pub(super) fn backfill(state: &AppState) -> Result<(), crate::db::DbError> {
    use crate::db::rollups;
    let started = std::time::Instant::now();
    let mut results = 0u64;
    while let Some(step) = state.db.write_blocking(|tx| rollups::backfill(tx, BACKFILL_BATCH))? {
        let now = crate::domain::time::unix_now();
        for project_id in state.db.read_blocking(|c| rollups::due(c, now, true))? {
            while state.db.write_blocking(|tx| rollups::fold(tx, project_id))?.more {}
        }
        results += step.results;
        let share = if step.last_seq > 0 { step.done_seq * 100 / step.last_seq } else { 100 };
        log::info!(
            "rollups: digested {results} stored result(s), runs up to #{} of {} ({share}%)",
            step.done_seq,
            step.last_seq
        );
    }
    if results > 0 {
        log::info!("rollups: backfill done in {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// How often the folder looks for digests due.
const FOLD_EVERY: Duration = Duration::from_secs(5);

/// Folds queued digests into the rollups (`db::rollups`): at start all of
/// them, then every few seconds those due, a batch per transaction,
/// yielding in between so uploads get the writer.
pub(super) async fn fold_every(state: web::Data<AppState>) {
    let mut tick = actix_web::rt::time::interval(FOLD_EVERY);
    let mut all = true;
    loop {
        tick.tick().await;
        let now = crate::domain::time::unix_now();
        let due = match state.db.read(move |c| crate::db::rollups::due(c, now, all)).await {
            Ok(due) => due,
            Err(e) => {
                log::warn!("looking for rollup digests to fold failed: {e}");
                continue;
            }
        };
        all = false;
        let mut failed = false;
        for project_id in due {
            loop {
                match state.db.write(move |tx| crate::db::rollups::fold(tx, project_id)).await {
                    Ok(folded) if folded.more => actix_web::rt::time::sleep(Duration::from_millis(5)).await,
                    Ok(_) => break,
                    Err(e) => {
                        log::warn!("folding rollup digests of project {project_id} failed: {e}");
                        failed = true;
                        break;
                    }
                }
            }
        }
        if !failed {
            done(&state, "rollups");
        }
    }
}

/// Deletes rollups older than `--rollup-retention-days`, once per day
/// (`kept_from` remembers the first day kept by the last pass).
pub(super) async fn prune(state: &AppState, kept_from: &mut i64) {
    let now = crate::domain::time::unix_now();
    let first =
        crate::domain::rollup::day_of(crate::domain::time::window_start(now, state.config.rollup_retention_days));
    if first <= *kept_from {
        return;
    }
    match state.db.write(move |tx| crate::db::rollups::prune(tx, first)).await {
        Ok(rows) => {
            *kept_from = first;
            done(state, "rollup_retention");
            if rows > 0 {
                log::info!("rollup retention: deleted {rows} row(s) of days before day {first}");
            }
        }
        Err(e) => log::warn!("pruning rollups failed: {e}"),
    }
}
