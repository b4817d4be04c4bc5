/* divert-web — the partner desk: the referral form (the server checks it
   and names each field's problem), the decision in words, the list of
   this organisation's referrals updated live, details and withdrawal. */
'use strict';

(function () {
    var el = D.el;
    var form = document.getElementById('referral');
    var send = document.getElementById('send');
    var referralId = D.uuid();          // kept, with the time of the first attempt, until a
    var submittedAt = null;             // decision comes back: sending again is the same referral
    var previous = {};                  // referral_id -> summary, to show what changed

    var PATHWAYS = {
        arrest_diversion: 'Arrest diversion (police, instead of booking)',
        social_contact: 'Social contact (police, no arrest)',
        community: 'Community referral',
        pretrial_diversion: 'Pretrial diversion (court or prosecutor)'
    };
    var HOUSING = {
        unsheltered: 'Unsheltered (street, vehicle, encampment)',
        hotel: 'In a hotel room',
        sheltered: 'In a shelter',
        housed: 'Housed',
        unknown: 'Not known'
    };
    var NEEDS = { substance_use: 'substance use', mental_health: 'mental health' };

    function value(id) { return document.getElementById(id).value.trim(); }

    function setup(me) {
        document.getElementById('source-line').textContent =
            'Referrals go to divert from ' + me.source.name + ' (' + me.source.kind + ').';
        return D.api('GET', '/api/partner/form').then(function (r) {
            if (r.status !== 200) return;
            var pathway = document.getElementById('pathway');
            D.clear(pathway);
            if (r.data.pathways.length > 1) D.add(pathway, el('option', { value: '' }, 'Choose one'));
            r.data.pathways.forEach(function (p) { D.add(pathway, el('option', { value: p }, PATHWAYS[p] || p)); });
            var housing = document.getElementById('housing');
            r.data.housing.forEach(function (h) { D.add(housing, el('option', { value: h }, HOUSING[h] || h)); });
            var areas = document.getElementById('areas');
            r.data.areas.forEach(function (a) { D.add(areas, el('option', { value: a })); });
            if (r.data.areas.length)
                document.getElementById('area-rule').textContent =
                    'Required. The area code where you met them, e.g. ' + r.data.areas.slice(0, 4).join(', ') + '.';
            pathway.addEventListener('change', offenseHint);
            offenseHint();
        });
    }

    // The offense is asked for only where the protocol needs it.
    function offenseHint() {
        var p = document.getElementById('pathway').value;
        var needed = p === 'arrest_diversion' || p === 'pretrial_diversion';
        document.getElementById('offense-set').hidden = !needed && p !== '';
    }

    function body() {
        var priors = document.getElementById('priors');
        var priorsValue = null;
        if (priors.value !== '') priorsValue = /^\d+$/.test(priors.value) ? parseInt(priors.value, 10) : priors.value;
        else if (priors.validity && priors.validity.badInput) priorsValue = 'not a number';
        var needs = [];
        ['need-su', 'need-mh'].forEach(function (id) {
            var box = document.getElementById(id);
            if (box.checked) needs.push(box.value);
        });
        if (!submittedAt) submittedAt = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
        var out = {
            referral_id: referralId,
            submitted_at: submittedAt,
            pathway: value('pathway'),
            person: { source_person_id: value('spid'), first_name: value('first'), last_name: value('last'), dob: value('dob') },
            area: value('area'),
            housing: value('housing'),
            behavioral_health: needs,
            prior_contacts_12m: priorsValue,
            consent: document.getElementById('consent').checked,
            contact: { worker: value('worker'), callback: value('callback') },
            notes: value('notes')
        };
        if (!document.getElementById('offense-set').hidden)
            out.offense = { code: value('offense-code'), description: value('offense-description') };
        return out;
    }

    function showOutcome(data) {
        var d = data.decision;
        var box = document.getElementById('outcome');
        box.className = 'outcome ' + d.decision;
        D.clear(box);
        D.add(box, [
            el('p', { class: 'big', id: 'outcome-text' }, data.summary),
            el('p', { class: 'small' },
               (d.program ? 'Program ' + d.program + ' · ' : '') +
               (d.priority ? 'tier ' + d.priority.tier + ', score ' + d.priority.score + ' · ' : '') +
               'reference ' + d.referral_id)
        ]);
        var section = document.getElementById('outcome-section');
        section.hidden = false;
        form.hidden = true;
        document.getElementById('outcome-title').focus();
    }

    function problem(message) {
        D.showErrors(form, message, []);
    }

    form.addEventListener('submit', function (event) {
        event.preventDefault();
        D.clearErrors(form);
        send.disabled = true;
        send.textContent = 'Sending...';
        D.api('POST', '/api/partner/referrals', body()).then(function (r) {
            send.disabled = false;
            send.textContent = 'Send referral';
            if (r.status === 200) {
                referralId = D.uuid();
                submittedAt = null;
                showOutcome(r.data);
                loadList();
            }
            else if (r.status === 422) D.showErrors(form, r.data.error || 'Please check the form', r.data.errors);
            else if (r.status === 504 || r.status === 503 || r.status === 0)
                problem((r.data.error || 'divert did not answer') + ' Press "Send referral" again: it is decided only once.');
            else problem(r.data.error || 'The referral was not accepted by divert.');
        });
    });

    document.getElementById('another').addEventListener('click', function () {
        form.reset();
        D.clearErrors(form);
        offenseHint();
        document.getElementById('outcome-section').hidden = true;
        form.hidden = false;
        document.getElementById('pathway').focus();
    });

    // ---- the list
    function item(row) {
        var latest = row.latest || {};
        var li = el('li', { 'data-referral': row.referral_id });
        if (previous[row.referral_id] !== undefined && previous[row.referral_id] !== row.summary) li.className = 'fresh';
        previous[row.referral_id] = row.summary;
        D.add(li, [
            el('div', { class: 'line1' }, el('span', { class: 'badge ' + (latest.decision || '') }, D.words(latest.decision)), ' ',
               el('span', { class: 'summary' }, row.summary)),
            el('div', { class: 'meta' }, (PATHWAYS[row.pathway] || row.pathway) + ' · ' + (row.area || '') +
               ' · sent ' + D.when(row.received_at) + ' · ref ' + row.referral_id.slice(0, 8)),
            row.enrollment_summary ? el('div', { class: 'meta' }, row.enrollment_summary) : null
        ]);
        var actions = el('div', { class: 'actions' },
            el('button', { type: 'button', class: 'secondary', onclick: function () { details(row.referral_id); } },
               'Details', el('span', { class: 'sr-only' }, ' of referral ' + row.referral_id.slice(0, 8))));
        if (row.can_withdraw) {
            var confirmBox = el('div', { class: 'actions', hidden: true },
                el('span', null, 'Withdraw this referral?'),
                el('button', { type: 'button', class: 'danger', onclick: function () { withdraw(row.referral_id, li); } }, 'Yes, withdraw'),
                el('button', { type: 'button', class: 'secondary', onclick: function () { confirmBox.hidden = true; } }, 'Keep it'));
            D.add(actions, el('button', { type: 'button', class: 'danger', onclick: function () {
                confirmBox.hidden = false; confirmBox.querySelector('button').focus(); } }, 'Withdraw'));
            D.add(li, [actions, confirmBox]);
        }
        else D.add(li, actions);
        return li;
    }

    function loadList() {
        return D.api('GET', '/api/partner/referrals').then(function (r) {
            var list = document.getElementById('mine');
            if (r.status !== 200) return;
            D.clear(list);
            if (!r.data.referrals.length) D.add(list, el('li', { class: 'empty' }, 'None yet.'));
            r.data.referrals.forEach(function (row) { D.add(list, item(row)); });
        });
    }

    function withdraw(id, li) {
        D.api('POST', '/api/partner/withdraw', { referral_id: id }).then(function (r) {
            if (r.status !== 200) {
                D.add(li, el('p', { class: 'error-text', role: 'alert' }, r.data.error || 'It could not be withdrawn.'));
                return;
            }
            loadList();
        });
    }

    // ---- details (recorded: personal data)
    function dl(pairs) {
        var list = el('dl', { class: 'details' });
        pairs.forEach(function (p) {
            if (p[1] === null || p[1] === undefined || p[1] === '') return;
            D.add(list, [el('dt', null, p[0]), el('dd', null, p[1])]);
        });
        return list;
    }

    function details(id) {
        D.api('GET', '/api/partner/referral?id=' + encodeURIComponent(id)).then(function (r) {
            var panel = document.getElementById('details');
            var out = D.clear(document.getElementById('details-body'));
            if (r.status !== 200) { D.add(out, el('p', { role: 'alert' }, r.data.error || 'Not available.')); D.openPanel(panel); return; }
            var ref = r.data.referral || {}, person = ref.person || {}, e = r.data.enrollment;
            D.add(out, dl([
                ['Name', [person.first_name, person.last_name].filter(Boolean).join(' ')],
                ['Your ID for them', person.source_person_id],
                ['Date of birth', person.dob],
                ['Kind', PATHWAYS[ref.pathway] || ref.pathway],
                ['Area', ref.area],
                ['Housing', HOUSING[ref.housing] || ref.housing],
                ['Needs', (ref.behavioral_health || []).map(function (n) { return NEEDS[n] || n; }).join(', ') || 'none given'],
                ['Offense', ref.offense ? [ref.offense.code, ref.offense.description].filter(Boolean).join(': ') : ''],
                ['Contacts in 12 months', ref.prior_contacts_12m],
                ['Consent', ref.consent === true ? 'yes' : 'no'],
                ['Your contact', ref.contact ? Object.keys(ref.contact).map(function (k) { return ref.contact[k]; }).join(', ') : ''],
                ['Notes', ref.notes],
                ['Sent', D.when(r.data.received_at)],
                ['Enrollment', e ? D.words(e.status) + (e.case_manager ? ' with ' + e.case_manager.name : '') : ''],
                ['Reference', r.data.referral_id]
            ]));
            D.add(out, el('h3', null, 'Decisions'));
            D.add(out, el('ul', null, (r.data.decisions || []).map(function (d) {
                return el('li', null, D.when(d.at) + ': ' + D.words(d.decision) + ' (' + D.words(d.reason) + ')');
            })));
            D.openPanel(panel);
        });
    }

    document.getElementById('details-close').addEventListener('click', function () {
        document.getElementById('details').hidden = true;
    });

    D.me('partner').then(function (me) {
        setup(me).then(function () { document.getElementById('pathway').focus(); });
        loadList();
        D.live(function () { loadList(); });
    });
}());
