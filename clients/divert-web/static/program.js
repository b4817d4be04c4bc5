/* divert-web — the program dashboard: per program, caseloads against the
   hard cap and the pacing line, free slots and reserves, the staffing gap,
   the waitlist in order; today's decisions, live; explain for any
   referral. No personal data is shown or fetched here. */
'use strict';

(function () {
    var el = D.el;
    var seen = {};          // decisions already shown, to mark new ones
    var loaded = false;
    var SHORT = 25;         // decisions shown until "show all"
    var showAll = false;
    var lastDecisions = [];

    function stat(label, value, warn) {
        return el('li', { class: warn ? 'warnstat' : null }, el('span', { class: 'n' }, String(value)), label);
    }

    function pct(n, cap) { return Math.max(0, Math.min(100, cap ? 100 * n / cap : 0)); }

    function bar(cm, p) {
        var fill = el('span', { class: 'fill' + (cm.caseload >= p.hard_cap ? ' full' : cm.caseload > p.pacing_line ? ' over' : '') });
        fill.style.width = pct(cm.caseload, p.hard_cap) + '%';
        var pace = el('span', { class: 'pace' });
        pace.style.left = pct(p.pacing_line, p.hard_cap) + '%';
        var label = cm.name + ': ' + cm.caseload + ' of ' + p.hard_cap + ' (pacing line ' + p.pacing_line + ')';
        return el('li', null,
            el('div', { class: 'bar-label' }, el('span', null, el('strong', null, cm.name), cm.active ? '' : ' (inactive)'),
               el('span', { class: 'nowrap' }, cm.caseload + ' / ' + p.hard_cap)),
            el('div', { class: 'bar', role: 'img', 'aria-label': label }, fill, pace),
            el('div', { class: 'meta small muted' }, cm.pending_intake + ' pending intake · ' + cm.active_count +
               ' active · ' + cm.in_the_wind + ' in the wind'));
    }

    function explainButton(source, id) {
        return el('button', { type: 'button', class: 'secondary', onclick: function () { explain(source, id); } },
                  'Explain', el('span', { class: 'sr-only' }, ' referral ' + id.slice(0, 8)));
    }

    function program(p) {
        var card = el('section', { class: 'card', 'aria-labelledby': 'p-' + p.name });
        D.add(card, el('h2', { id: 'p-' + p.name }, p.name + ' ', el('span', { class: 'muted' }, '(' + p.model + ')')));
        D.add(card, el('ul', { class: 'stats' },
            stat('free slots', p.free, p.free <= 0),
            stat('held (paced ' + p.paced + ')', p.total),
            stat('average (target ' + p.target_avg + ')', p.average),
            stat('case managers', p.n),
            stat('waitlist (cap ' + p.waitlist_cap + ')', p.waitlist.length, p.waitlist.length > 0),
            stat('staffing gap', p.staffing_gap, p.staffing_gap > 0),
            stat('reserved for arrest diversion', p.reserve_tier1),
            stat('more held ahead of pretrial', p.reserve_tier2)));
        if (p.staffing_gap > 0)
            D.add(card, el('p', { class: 'outcome waitlist' }, 'Add ' + p.staffing_gap + ' case manager' +
               (p.staffing_gap === 1 ? '' : 's') + ' to keep the average under the pacing line.'));
        D.add(card, el('h3', null, 'Caseloads'));
        D.add(card, el('p', { class: 'legend' }, 'Each bar: caseload out of the hard cap of ' + p.hard_cap +
           '. Dashed line: the pacing line (' + p.pacing_line + ').'));
        var bars = el('ul', { class: 'bars' });
        if (!p.case_managers.length) D.add(bars, el('li', { class: 'muted' }, 'No case managers.'));
        p.case_managers.forEach(function (cm) { D.add(bars, bar(cm, p)); });
        D.add(card, bars);
        D.add(card, el('h3', null, 'Waitlist, in order'));
        var list = el('ol', { class: 'list compact' });
        if (!p.waitlist.length) D.add(list, el('li', { class: 'empty' }, 'No one is waiting.'));
        p.waitlist.forEach(function (w) {
            D.add(list, el('li', null,
                el('div', { class: 'text' },
                    el('div', { class: 'line1' }, '#' + w.position + ' · tier ' + w.tier + ' · score ' + w.score +
                       (w.aging ? ' (' + w.base_score + ' + ' + w.aging + ' waiting)' : '')),
                    el('div', { class: 'meta' }, 'waiting ' + D.age(w.waited_seconds) + ' · expires in ' +
                       D.age(w.expires_in_seconds) + ' · wait ' + D.words(w.band) + ' · ' + w.source_id + ' · ref ' +
                       w.referral_id.slice(0, 8))),
                el('div', { class: 'actions' }, explainButton(w.source_id, w.referral_id))));
        });
        D.add(card, list);
        return card;
    }

    function loadDashboard() {
        return D.api('GET', '/api/program/dashboard').then(function (r) {
            if (r.status !== 200) return;
            var t = r.data.today;
            document.getElementById('today').textContent = 'Today: ' + t.all + ' decision' + (t.all === 1 ? '' : 's') +
                ': ' + t.accept + ' accepted, ' + t.waitlist + ' waitlisted, ' + t.decline + ' declined.';
            var box = D.clear(document.getElementById('programs'));
            r.data.programs.forEach(function (p) { D.add(box, program(p)); });
        });
    }

    function renderDecisions() {
        var list = D.clear(document.getElementById('decisions'));
        var first = !loaded;
        loaded = true;
        if (!lastDecisions.length) D.add(list, el('li', { class: 'empty' }, 'None yet today.'));
        lastDecisions.forEach(function (d, index) {
            var key = d.source_id + ':' + d.seq;
            var fresh = !first && !seen[key];
            seen[key] = true;
            if (index >= SHORT && !showAll) return;
            D.add(list, el('li', { class: fresh ? 'fresh' : null, 'data-referral': d.referral_id },
                el('div', { class: 'text' },
                    el('div', { class: 'line1' }, el('span', { class: 'badge ' + d.decision }, D.words(d.decision)), ' ',
                       d.reason_words + (d.case_manager ? ' · ' + d.case_manager : '')),
                    el('div', { class: 'meta' }, D.when(d.at) + ' · ' + (d.program || 'no program') + ' · ' +
                       d.source_name + ' · tier ' + d.tier + ', score ' + d.score + ' · ref ' + d.referral_id.slice(0, 8))),
                el('div', { class: 'actions' }, explainButton(d.source_id, d.referral_id))));
        });
        var more = document.getElementById('more');
        more.hidden = lastDecisions.length <= SHORT;
        more.textContent = showAll ? 'Show the latest ' + SHORT : 'Show all ' + lastDecisions.length + ' decisions';
    }

    function loadDecisions() {
        return D.api('GET', '/api/program/decisions').then(function (r) {
            if (r.status !== 200) return;
            lastDecisions = r.data.decisions;
            renderDecisions();
        });
    }

    document.getElementById('more').addEventListener('click', function () {
        showAll = !showAll;
        renderDecisions();
    });

    function explain(source, id) {
        D.api('GET', '/api/program/explain?source=' + encodeURIComponent(source) + '&id=' + encodeURIComponent(id)).then(function (r) {
            var panel = document.getElementById('explain');
            var out = D.clear(document.getElementById('explain-body'));
            document.getElementById('columns').classList.remove('single');
            if (r.status !== 200) { D.add(out, el('p', { role: 'alert' }, r.data.error || 'Not available.')); D.openPanel(panel); return; }
            var ref = r.data.referral;
            D.add(out, el('p', null, 'Referral ' + ref.referral_id + ' from ' + ref.source_id + ': ' + D.words(ref.pathway) +
                ', tier ' + ref.tier + ', now ' + D.words(ref.state) +
                (ref.enrollment_status ? ' (enrollment ' + D.words(ref.enrollment_status) + ')' : '') + '.'));
            var list = el('ol', { class: 'list' });
            r.data.events.forEach(function (e) {
                var c = e.components || {}, cap = e.capacity || {};
                D.add(list, el('li', null,
                    el('div', { class: 'line1' }, el('span', { class: 'badge ' + e.decision }, D.words(e.decision)), ' ',
                       e.reason_words + (e.case_manager ? ' · ' + e.case_manager : '')),
                    el('div', { class: 'meta' }, D.when(e.at) + ' · ' + (e.program || '') + ' · policy version ' + e.policy_version),
                    e.score !== null ? el('div', { class: 'meta' }, 'score ' + e.score + ' = pathway ' + (c.pathway || 0) +
                       ' + acuity ' + (c.acuity || 0) + ' + contacts ' + (c.contacts || 0) + ' + waiting ' + (c.aging || 0)) : null,
                    cap.n !== undefined ? el('div', { class: 'meta' }, 'it saw: ' + cap.n + ' case manager' + (cap.n === 1 ? '' : 's') +
                       ' holding ' + cap.total +
                       ', highest caseload ' + cap.max_load + ', ' + cap.free + ' free of ' + cap.paced + ' paced, waitlist ' +
                       cap.waitlist) : null));
            });
            D.add(out, list);
            document.getElementById('columns').classList.remove('single');
            D.openPanel(panel);
        });
    }

    document.getElementById('explain-close').addEventListener('click', function () {
        document.getElementById('explain').hidden = true;
        document.getElementById('columns').classList.add('single');
    });

    D.me('program').then(function () {
        loadDashboard();
        loadDecisions();
        D.live(function () { loadDashboard(); loadDecisions(); });
        setInterval(loadDashboard, 60000);     // ages and expiries move on their own
    });
}());
