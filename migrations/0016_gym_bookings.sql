-- GymBooker: one row per (member, class day), written before any booking request goes out,
-- so a restart, a rerun or a second look never books twice: a row left `booking` means a
-- request may have gone through, and is settled by reading the member's bookings back.
--   booking      a request for `class_id` is (or was) in flight; outcome not known yet
--   booked       the member has a place (`class_id`, `class_start`)
--   waitlisted   the member is on the class's waiting list
--   full         every preferred class was full; the member was offered the waitlist
--   failed       the booking could not be made (`last_error` says why; member and operator told)
--   skipped      the member asked to skip that day (`/gym skip DATE`)
--   cancel_requested, cancelled   `/gym cancel DATE`, then done with the booking system
--   waitlist_requested           the member tapped "Join the waitlist"
CREATE TABLE gym_bookings (
    member        TEXT    NOT NULL,
    class_date    TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('booking', 'booked', 'waitlisted', 'full',
                      'failed', 'skipped', 'cancel_requested', 'cancelled', 'waitlist_requested')),
    client_id     TEXT    NOT NULL,
    class_id      TEXT,
    class_name    TEXT,
    class_start   TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    updated_at    TEXT    NOT NULL,
    PRIMARY KEY (member, class_date)
);
