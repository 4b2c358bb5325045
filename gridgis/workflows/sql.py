"""SQL of units, patrol tasks and their claims, service posts and their claims (bound
parameters only)."""

from __future__ import annotations

from sqlalchemy import TextClause, text


def claimant_lock(scope: str) -> TextClause:
    """A transaction advisory lock on one claimant (`:claimant_id`) within `scope`: that
    claimant's claims are decided one at a time."""
    return text(
        "SELECT pg_advisory_xact_lock("
        f"hashtextextended('{scope}:' || CAST(:claimant_id AS text), 0))"
    )


ACTIVE_GRIDS = """
    SELECT a.code, a.name, a.kind, a.geom FROM areas a
    JOIN generations g ON g.id = a.generation_id AND g.active
    WHERE a.level = 'grid'
"""

# -- units ---------------------------------------------------------------------------------------
UNIT_COLUMNS = "u.id, u.name, u.contact, u.grid_code, u.created_at"
INSERT_UNIT = text(
    """
    INSERT INTO units (name, contact, grid_code) VALUES (:name, :contact, :grid_code)
    ON CONFLICT (name) DO NOTHING
    RETURNING id, name, contact, grid_code, created_at
    """
)
GET_UNIT = text(f"SELECT {UNIT_COLUMNS} FROM units u WHERE u.id = :id")
LIST_UNITS = text(
    f"""
    SELECT {UNIT_COLUMNS} FROM units u
    WHERE u.id > :after AND (CAST(:grid AS varchar) IS NULL OR u.grid_code = :grid)
    ORDER BY u.id LIMIT :limit
    """
)
GRIDS_NAMED = text(
    f"SELECT code, name, kind FROM ({ACTIVE_GRIDS}) g WHERE code = ANY(:codes) ORDER BY code"
)

# -- patrol areas --------------------------------------------------------------------------------
# The grids' union as one geometry (text, to insert as the task's area).
AREA_OF_GRIDS = text(
    f"SELECT ST_AsEWKT(ST_Multi(ST_Union(geom))) FROM ({ACTIVE_GRIDS}) g WHERE code = ANY(:codes)"
)
# A drawn area: is it valid, inside the city, and which grids does it touch (the first is the
# grid its centre lies in).
CHECK_DRAWN_AREA = text(
    f"""
    WITH drawn AS (SELECT ST_SetSRID(ST_GeomFromGeoJSON(:geojson), 4326) AS geom),
    city AS (
        SELECT a.geom FROM areas a JOIN generations g ON g.id = a.generation_id AND g.active
        WHERE a.level = 'city'
    )
    SELECT ST_IsValid(d.geom) AS valid, ST_IsValidReason(d.geom) AS reason,
           ST_IsEmpty(d.geom) AS empty, ST_AsEWKT(d.geom) AS ewkt,
           COALESCE((SELECT ST_CoveredBy(d.geom, c.geom) FROM city c), false) AS inside,
           (SELECT g.code FROM ({ACTIVE_GRIDS}) g
             WHERE ST_Intersects(g.geom, ST_PointOnSurface(d.geom)) ORDER BY g.code LIMIT 1)
             AS centre_grid,
           ARRAY(SELECT g.code FROM ({ACTIVE_GRIDS}) g WHERE ST_Intersects(g.geom, d.geom)
                 ORDER BY g.code) AS grid_codes
    FROM drawn d
    """
)

# -- patrol tasks --------------------------------------------------------------------------------
INSERT_TASK = text(
    """
    INSERT INTO patrol_tasks (unit_id, title, area_kind, grid_code, grid_codes, area,
                              starts_at, ends_at, slots, required_role, created_by)
    VALUES (:unit_id, :title, :area_kind, :grid_code, :grid_codes, ST_GeomFromEWKT(:area),
            :starts_at, :ends_at, :slots, :required_role, :created_by)
    RETURNING id
    """
)
# A task's state at :now: cancelled, ended, underway, full or open.
TASK_STATE = """
    CASE WHEN t.status = 'cancelled' THEN 'cancelled'
         WHEN CAST(:now AS timestamptz) >= t.ends_at THEN 'ended'
         WHEN CAST(:now AS timestamptz) >= t.starts_at THEN 'underway'
         WHEN n.claimed >= t.slots THEN 'full'
         ELSE 'open' END
"""
TASK_SELECT = f"""
    SELECT t.id, t.unit_id, u.name AS unit_name, t.title, t.area_kind, t.grid_code, t.grid_codes,
           CAST(ST_AsGeoJSON(t.area, 6) AS json) AS area, t.starts_at, t.ends_at, t.slots,
           t.required_role, n.claimed, {TASK_STATE} AS status, t.created_by, t.created_at,
           t.cancelled_at
    FROM patrol_tasks t
    JOIN units u ON u.id = t.unit_id
    CROSS JOIN LATERAL (
        SELECT COUNT(*) AS claimed FROM patrol_claims c
        WHERE c.task_id = t.id AND c.status = 'active'
    ) n
"""
GET_TASK = text(TASK_SELECT + " WHERE t.id = :id")
LIST_TASKS = text(
    f"""
    SELECT * FROM (
        SELECT q.*,
               CASE WHEN CAST(:lon AS double precision) IS NULL THEN NULL ELSE
                 ST_Distance(CAST(t2.area AS geography),
                             CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography))
               END AS distance_m
        FROM ({TASK_SELECT}
              WHERE (CAST(:from AS timestamptz) IS NULL OR t.ends_at > :from)
                AND (CAST(:to AS timestamptz) IS NULL OR t.starts_at < :to)
                AND (CAST(:grid AS varchar) IS NULL
                     OR t.grid_codes @> ARRAY[CAST(:grid AS varchar)])
                AND (CAST(:unit_id AS bigint) IS NULL OR t.unit_id = :unit_id)
                AND (CAST(:lon AS double precision) IS NULL OR ST_DWithin(
                        CAST(t.area AS geography),
                        CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography), :radius_m))
        ) q JOIN patrol_tasks t2 ON t2.id = q.id
    ) r
    WHERE CAST(:statuses AS varchar[]) IS NULL OR r.status = ANY(:statuses)
    ORDER BY r.distance_m NULLS LAST, r.starts_at, r.id
    LIMIT :limit
    """
)
LOCK_TASK = text(
    "SELECT id, unit_id, status, starts_at, ends_at FROM patrol_tasks WHERE id = :id FOR UPDATE"
)
CANCEL_TASK = text(
    "UPDATE patrol_tasks SET status = 'cancelled', cancelled_at = :now WHERE id = :id"
)
RELEASE_TASK_CLAIMS = text(
    """
    UPDATE patrol_claims SET status = 'cancelled', ended_at = :now
    WHERE task_id = :id AND status = 'active' RETURNING responder_id
    """
)

# -- patrol claims -------------------------------------------------------------------------------
CLAIM_COLUMNS = """
    c.id, c.task_id, c.responder_id, c.slot_no, c.status, c.claimed_at, c.ended_at,
    c.checked_in_at, ST_X(c.check_in_position) AS check_in_lon,
    ST_Y(c.check_in_position) AS check_in_lat, c.checked_out_at,
    ST_X(c.check_out_position) AS check_out_lon, ST_Y(c.check_out_position) AS check_out_lat
"""
TASK_CLAIMS = text(
    f"""
    SELECT {CLAIM_COLUMNS}, r.name AS responder_name FROM patrol_claims c
    JOIN responders r ON r.id = c.responder_id
    WHERE c.task_id = :id ORDER BY c.status = 'active' DESC, c.slot_no, c.id
    """
)
LOCK_TASK_FOR_CLAIM = text(
    """
    SELECT id, slots AS capacity, status, starts_at, ends_at, required_role, unit_id
    FROM patrol_tasks WHERE id = :target_id FOR UPDATE
    """
)
ACTIVE_PATROL_CLAIM = text(
    f"""
    SELECT {CLAIM_COLUMNS} FROM patrol_claims c
    WHERE c.task_id = :target_id AND c.responder_id = :claimant_id AND c.status = 'active'
    """
)
TAKEN_PATROL_SLOTS = text(
    "SELECT slot_no FROM patrol_claims WHERE task_id = :target_id AND status = 'active'"
)
INSERT_PATROL_CLAIM = text(
    f"""
    WITH c AS (
        INSERT INTO patrol_claims (task_id, responder_id, slot_no, during, claimed_at)
        SELECT t.id, :claimant_id, :slot_no, tstzrange(t.starts_at, t.ends_at), :now
        FROM patrol_tasks t WHERE t.id = :target_id
        RETURNING *
    )
    SELECT {CLAIM_COLUMNS} FROM c
    """
)
OVERLAPPING_CLAIM = text(
    """
    SELECT c.task_id FROM patrol_claims c
    WHERE c.responder_id = :responder_id AND c.status = 'active' AND c.task_id <> :task_id
      AND c.during && tstzrange(:starts_at, :ends_at)
    ORDER BY c.task_id LIMIT 1
    """
)
RESPONDER = text("SELECT id, name, role, status FROM responders WHERE id = :id")
# One volunteer's patrol grabs one at a time: two overlapping grabs at once would otherwise
# both insert, each then wait on the other's row in the overlap exclusion constraint, and
# PostgreSQL would abort one as a deadlock instead of refusing it as an overlap.
LOCK_VOLUNTEER = claimant_lock("patrol_claims")
END_PATROL_CLAIM = text(
    f"""
    WITH c AS (
        UPDATE patrol_claims SET status = :status, ended_at = :now
        WHERE id = :claim_id RETURNING *
    )
    SELECT {CLAIM_COLUMNS} FROM c
    """
)
DISTANCE_TO_TASK = text(
    """
    SELECT ST_Distance(CAST(area AS geography),
                       CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography)) AS metres
    FROM patrol_tasks WHERE id = :id
    """
)
CHECK_IN = text(
    f"""
    WITH c AS (
        UPDATE patrol_claims SET checked_in_at = :now,
               check_in_position = ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)
        WHERE id = :claim_id RETURNING *
    )
    SELECT {CLAIM_COLUMNS} FROM c
    """
)
CHECK_OUT = text(
    f"""
    WITH c AS (
        UPDATE patrol_claims SET checked_out_at = :now,
               check_out_position = ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)
        WHERE id = :claim_id RETURNING *
    )
    SELECT {CLAIM_COLUMNS} FROM c
    """
)
MAKE_AVAILABLE = text(
    "UPDATE responders SET status = 'available' WHERE id = :id AND status = 'off_duty'"
)

# -- patrol figures ------------------------------------------------------------------------------
# Each claim of a task starting in [from, to) with its hours: check-in to check-out (or to the
# end of the task when the volunteer did not check out), never negative. A no-show is a late
# cancellation or an active claim on an ended task without a check-in. Weeks are ISO weeks in
# Asia/Shanghai.
PATROL_CLAIM_FIGURES = """
    SELECT t.id AS task_id, t.unit_id, t.grid_code, t.slots, t.starts_at,
           CAST(date_trunc('week', t.starts_at AT TIME ZONE 'Asia/Shanghai') AS date) AS week,
           c.responder_id, c.status AS claim_status,
           CASE WHEN c.checked_in_at IS NULL THEN 0 ELSE GREATEST(0, EXTRACT(EPOCH FROM (
               LEAST(COALESCE(c.checked_out_at, t.ends_at), t.ends_at, CAST(:now AS timestamptz))
               - c.checked_in_at)) / 3600.0) END AS hours,
           (c.status = 'no_show' OR (c.status = 'active' AND c.checked_in_at IS NULL
                                     AND t.ends_at <= CAST(:now AS timestamptz))) AS no_show
    FROM patrol_tasks t
    LEFT JOIN patrol_claims c ON c.task_id = t.id AND c.status IN ('active', 'no_show')
    WHERE t.status = 'open' AND t.starts_at >= :from AND t.starts_at < :to
"""
PATROL_STATS = text(
    f"""
    WITH f AS ({PATROL_CLAIM_FIGURES}),
    per_task AS (
        SELECT task_id, LEFT(grid_code, :prefix_len) AS area_code, week, MAX(slots) AS slots,
               COUNT(*) FILTER (WHERE claim_status = 'active') AS filled
        FROM f GROUP BY task_id, grid_code, week
    ),
    tasks AS (
        SELECT area_code, week, COUNT(*) AS tasks, SUM(slots) AS slots_offered,
               SUM(LEAST(filled, slots)) AS slots_filled
        FROM per_task GROUP BY area_code, week
    ),
    people AS (
        SELECT LEFT(grid_code, :prefix_len) AS area_code, week,
               SUM(hours) AS patrol_hours,
               COUNT(DISTINCT responder_id) FILTER (WHERE hours > 0) AS volunteers,
               COUNT(*) FILTER (WHERE no_show) AS no_shows
        FROM f GROUP BY 1, 2
    )
    SELECT t.area_code, a.name AS area_name, t.week, t.tasks, t.slots_offered, t.slots_filled,
           COALESCE(p.patrol_hours, 0) AS patrol_hours, COALESCE(p.volunteers, 0) AS volunteers,
           COALESCE(p.no_shows, 0) AS no_shows
    FROM tasks t
    LEFT JOIN people p ON p.area_code = t.area_code AND p.week = t.week
    LEFT JOIN areas a ON a.code = t.area_code AND a.level = :level
         AND a.generation_id = (SELECT id FROM generations WHERE active)
    ORDER BY t.area_code, t.week
    """
)
LEADERBOARD_VOLUNTEERS = text(
    f"""
    WITH f AS ({PATROL_CLAIM_FIGURES})
    SELECT f.responder_id AS id, r.name, SUM(f.hours) AS patrol_hours,
           COUNT(*) FILTER (WHERE f.hours > 0) AS tasks, COUNT(*) FILTER (WHERE f.no_show)
           AS no_shows
    FROM f JOIN responders r ON r.id = f.responder_id
    GROUP BY f.responder_id, r.name
    HAVING SUM(f.hours) > 0
    ORDER BY patrol_hours DESC, f.responder_id LIMIT :limit
    """
)
LEADERBOARD_UNITS = text(
    f"""
    WITH f AS ({PATROL_CLAIM_FIGURES})
    SELECT f.unit_id AS id, u.name, SUM(f.hours) AS patrol_hours,
           COUNT(DISTINCT f.task_id) AS tasks,
           COUNT(DISTINCT f.responder_id) FILTER (WHERE f.hours > 0) AS volunteers,
           COUNT(*) FILTER (WHERE f.no_show) AS no_shows
    FROM f JOIN units u ON u.id = f.unit_id
    GROUP BY f.unit_id, u.name
    HAVING SUM(f.hours) > 0
    ORDER BY patrol_hours DESC, f.unit_id LIMIT :limit
    """
)
HOURS_BY_GRID = text(
    f"""
    WITH f AS ({PATROL_CLAIM_FIGURES}),
    h AS (
        SELECT grid_code, SUM(hours) AS patrol_hours,
               COUNT(DISTINCT responder_id) FILTER (WHERE hours > 0) AS volunteers,
               COUNT(DISTINCT task_id) AS tasks
        FROM f GROUP BY grid_code
    )
    SELECT g.code, g.name, g.kind, COALESCE(h.patrol_hours, 0) AS patrol_hours,
           COALESCE(h.volunteers, 0) AS volunteers, COALESCE(h.tasks, 0) AS tasks,
           CAST(ST_AsGeoJSON(ST_SimplifyPreserveTopology(g.geom, :tolerance), 6) AS json)
             AS geometry
    FROM ({ACTIVE_GRIDS}) g LEFT JOIN h ON h.grid_code = g.code
    ORDER BY g.code
    """
)

# -- service posts -------------------------------------------------------------------------------
POST_SELECT = """
    SELECT p.id, p.grid_code, p.name, p.description, p.source, p.created_at,
           c.responder_id AS cadre_id, r.name AS cadre_name, c.claimed_at
    FROM service_posts p
    LEFT JOIN service_post_claims c ON c.post_id = p.id AND c.status = 'active'
    LEFT JOIN responders r ON r.id = c.responder_id
"""
INSERT_POST = text(
    """
    INSERT INTO service_posts (grid_code, name, description)
    VALUES (:grid_code, :name, :description)
    ON CONFLICT (grid_code, name) DO NOTHING RETURNING id
    """
)
GET_POST = text(POST_SELECT + " WHERE p.id = :id")
LIST_POSTS = text(
    POST_SELECT
    + """
    WHERE p.id > :after
      AND (CAST(:grid AS varchar) IS NULL OR p.grid_code = :grid)
      AND (CAST(:prefix AS varchar) IS NULL OR p.grid_code LIKE CAST(:prefix AS varchar) || '%')
      AND (CAST(:cadre_id AS bigint) IS NULL OR c.responder_id = :cadre_id)
      AND (CAST(:claimed AS boolean) IS NULL OR (c.id IS NOT NULL) = :claimed)
    ORDER BY p.id LIMIT :limit
    """
)
# One cadre's claims are decided one at a time (the per-cadre limit spans posts).
LOCK_CADRE = claimant_lock("service_post_claims")
LOCK_POST_FOR_CLAIM = text(
    "SELECT id, 1 AS capacity, grid_code FROM service_posts WHERE id = :target_id FOR UPDATE"
)
POST_CLAIM_COLUMNS = (
    "c.id, c.post_id, c.responder_id, c.slot_no, c.status, c.claimed_at, c.ended_at"
)
ACTIVE_POST_CLAIM = text(
    f"""
    SELECT {POST_CLAIM_COLUMNS} FROM service_post_claims c
    WHERE c.post_id = :target_id AND c.responder_id = :claimant_id AND c.status = 'active'
    """
)
TAKEN_POST_SLOTS = text(
    "SELECT slot_no FROM service_post_claims WHERE post_id = :target_id AND status = 'active'"
)
INSERT_POST_CLAIM = text(
    f"""
    WITH c AS (
        INSERT INTO service_post_claims (post_id, responder_id, slot_no, claimed_at)
        VALUES (:target_id, :claimant_id, :slot_no, :now) RETURNING *
    )
    SELECT {POST_CLAIM_COLUMNS} FROM c
    """
)
CADRE_POST_COUNT = text(
    "SELECT COUNT(*) FROM service_post_claims WHERE responder_id = :id AND status = 'active'"
)
RELEASE_POST_CLAIM = text(
    f"""
    WITH c AS (
        UPDATE service_post_claims SET status = 'released', ended_at = :now
        WHERE post_id = :post_id AND responder_id = :responder_id AND status = 'active'
        RETURNING *
    )
    SELECT {POST_CLAIM_COLUMNS} FROM c
    """
)
# Per township or county: grids, grids offering posts, grids whose posts are all claimed.
POST_COVERAGE = text(
    f"""
    WITH per_grid AS (
        SELECT g.code, COUNT(p.id) AS posts, COUNT(c.id) AS claimed
        FROM ({ACTIVE_GRIDS}) g
        LEFT JOIN service_posts p ON p.grid_code = g.code
        LEFT JOIN service_post_claims c ON c.post_id = p.id AND c.status = 'active'
        GROUP BY g.code
    )
    SELECT LEFT(pg.code, :prefix_len) AS area_code, a.name AS area_name,
           COUNT(*) AS grids, COUNT(*) FILTER (WHERE pg.posts > 0) AS grids_with_posts,
           COUNT(*) FILTER (WHERE pg.posts > 0 AND pg.claimed = pg.posts) AS grids_all_claimed,
           SUM(pg.posts) AS posts, SUM(pg.claimed) AS posts_claimed
    FROM per_grid pg
    LEFT JOIN areas a ON a.code = LEFT(pg.code, :prefix_len) AND a.level = :level
         AND a.generation_id = (SELECT id FROM generations WHERE active)
    GROUP BY 1, 2 ORDER BY 1
    """
)
