/* Hybrid-threat alerts: analyst page.
 *
 * Plain JavaScript, no framework, no build step. The DOM is built with createElement/textContent only:
 * user text never goes through innerHTML. Passage offsets from the API are Python string indices
 * (Unicode code points), so the document is sliced as an array of code points, not UTF-16 units.
 */
(function () {
  "use strict";

  var DEFAULT_LABELS = ["hybrid_threat_warning", "sabotage_mention", "support_statement"];
  var HUMAN_NAMES = {
    hybrid_threat_warning: "Hybrid-threat warning",
    sabotage_mention: "Sabotage mention",
    support_statement: "Support statement"
  };
  var BADGES = {
    hybrid_threat_warning: "HYBRID",
    sabotage_mention: "SABOTAGE",
    support_statement: "SUPPORT"
  };
  var KIND_NAMES = { sentence: "Sentence", heading: "Heading", bullet: "Bullet point" };

  var state = {
    labels: DEFAULT_LABELS.slice(),
    thresholds: {},
    modelVersion: null,
    text: "",
    documentId: null,
    result: null,
    passages: [],
    selected: null,
    elements: {},
    busy: false
  };

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "text") node.textContent = value;
        else if (key === "className") node.className = value;
        else node.setAttribute(key, value === true ? "" : String(value));
      });
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function humanName(label) {
    if (HUMAN_NAMES[label]) return HUMAN_NAMES[label];
    var words = String(label).replace(/_/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  function badgeText(label) {
    return BADGES[label] || String(label).split("_")[0].toUpperCase();
  }

  function labelClass(label) {
    return HUMAN_NAMES[label] ? "label-" + label : "label-other";
  }

  function badge(label) {
    return el("span", { className: "badge " + labelClass(label), title: humanName(label), text: "[" + badgeText(label) + "]" });
  }

  function fmt(p) { return (typeof p === "number" && isFinite(p)) ? p.toFixed(3) : "–"; }

  function setStatus(message, kind) {
    var node = $("status");
    node.className = "status" + (kind ? " " + kind : "");
    node.textContent = message || "";
  }

  /* ---- API ---- */

  function errorMessage(status, body) {
    var detail = body && body.error && body.error.message ? body.error.message : "";
    if (status === 401) return "The service requires an access token: enter it under “Access token” and try again." + (detail ? " (" + detail + ")" : "");
    if (status === 403) return "The access token was refused: check it under “Access token”." + (detail ? " (" + detail + ")" : "");
    if (detail) return detail;
    if (status === 413) return "The text is over the service's size limit.";
    if (status === 503) return "The service has no model loaded yet. Try again in a moment.";
    return "The service answered with an error (HTTP " + status + ").";
  }

  function request(method, url, payload, headers) {
    var options = { method: method, headers: { Accept: "application/json" } };
    var token = $("token").value.trim();
    if (token) options.headers.Authorization = "Bearer " + token;
    Object.keys(headers || {}).forEach(function (k) { options.headers[k] = headers[k]; });
    if (payload !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(payload);
    }
    return fetch(url, options).then(
      function (response) {
        return response.text().then(function (raw) {
          var body = null;
          try { body = raw ? JSON.parse(raw) : null; } catch (e) { body = null; }
          return { ok: response.ok, status: response.status, body: body, headers: response.headers };
        });
      },
      function () {
        var err = new Error("Service unreachable: check that the service is running and the network is up.");
        err.network = true;
        throw err;
      }
    );
  }

  /* ---- Model and legend ---- */

  function renderLegend() {
    var list = $("legend");
    clear(list);
    state.labels.forEach(function (label) {
      list.appendChild(el("li", null, [
        el("span", { className: "swatch flagged " + labelClass(label), "aria-hidden": "true" }, [badge(label)]),
        el("span", { text: humanName(label) })
      ]));
    });
  }

  function setModelVersion(version) {
    if (!version) return;
    state.modelVersion = version;
    $("model-version").textContent = version;
  }

  function loadModel(quiet) {
    return request("GET", "/v1/model").then(function (res) {
      if (res.ok && res.body) {
        if (Array.isArray(res.body.labels) && res.body.labels.length) state.labels = res.body.labels.slice();
        state.thresholds = res.body.thresholds || {};
        setModelVersion(res.body.version);
        renderLegend();
      } else if (!quiet) {
        $("model-version").textContent = "unavailable";
        setStatus(errorMessage(res.status, res.body), "error");
      }
    }, function (err) {
      if (quiet) return;
      $("model-version").textContent = "unavailable";
      setStatus(err.message, "error");
    });
  }

  /* ---- Analysis ---- */

  function analyse() {
    if (state.busy) return;
    var text = $("text").value;
    if (!text.trim()) {
      setStatus("There is no text to analyse: paste some text or open a .txt file first.", "error");
      $("text").focus();
      return;
    }
    state.busy = true;
    var button = $("analyse");
    button.disabled = true;
    $("analyse-form").setAttribute("aria-busy", "true");
    setStatus("Analysing " + Array.from(text).length + " characters…");
    var documentId = "doc-" + Date.now().toString(36);
    request("POST", "/v1/predict", { documents: [{ id: documentId, text: text }], passages: true, evidence: true })
      .then(function (res) {
        if (!res.ok || !res.body || !Array.isArray(res.body.results) || !res.body.results.length) {
          setStatus(errorMessage(res.status, res.body), "error");
          return;
        }
        setModelVersion(res.body.model_version || res.headers.get("X-Model-Version"));
        state.text = text;
        state.documentId = documentId;
        if (!Object.keys(state.thresholds).length) {
          /* The model's labels and thresholds could not be read at load time (e.g. no token yet). */
          return loadModel(true).then(function () { showResult(res.body.results[0]); });
        }
        showResult(res.body.results[0]);
      }, function (err) {
        setStatus(err.message, "error");
      })
      .then(function () {
        state.busy = false;
        button.disabled = false;
        $("analyse-form").removeAttribute("aria-busy");
      });
  }

  function showResult(result) {
    state.result = result;
    state.passages = (result.passages || []).slice().sort(function (a, b) { return a.start - b.start; });
    state.selected = null;
    renderDocument();
    renderSummary();
    renderDetails(null);
    $("results").hidden = false;
    var flagged = state.passages.filter(function (p) { return p.labels && p.labels.length; }).length;
    var unread = state.passages.filter(function (p) { return p.supported === false; }).length;
    var n = state.passages.length;
    setStatus("Analysis done: " + n + (n === 1 ? " passage, " : " passages, ") + flagged + " flagged" +
      (unread ? ", " + unread + " not read (a language the model was not trained on)." : "."), unread ? "warn" : "ok");
  }

  function unreadNotice(passage) {
    return "Not read: this passage is in " + languageName(passage.language) +
      ", which the model was not trained on. It was not scored — read it yourself.";
  }

  function languageName(code) {
    try {
      var name = new Intl.DisplayNames(["en"], { type: "language" }).of(code);
      return name && name !== code ? name + " (" + code + ")" : code;
    } catch (e) {
      return String(code);
    }
  }

  function passageNode(passage, text) {
    var flagged = passage.labels && passage.labels.length;
    var kind = passage.kind || "sentence";
    var node;
    if (passage.supported === false) {
      node = el("mark", {
        className: "passage unsupported " + kind,
        tabindex: "0",
        role: "button",
        "aria-pressed": "false",
        "data-index": passage.index,
        "data-language": passage.language || "",
        "data-testid": "unsupported-passage",
        title: unreadNotice(passage),
        id: "passage-" + passage.index
      });
      node.appendChild(el("span", { className: "passage-text", text: text }));
      node.appendChild(el("span", { className: "badge badge-unsupported", text: "not read: " + passage.language }));
      node.addEventListener("click", function () { select(passage.index, true); });
      node.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " " || event.key === "Spacebar") {
          event.preventDefault();
          select(passage.index, true);
        }
      });
      state.elements[passage.index] = node;
      return node;
    }
    if (flagged) {
      node = el("mark", {
        className: "passage flagged " + kind + " " + labelClass(passage.labels[0]),
        tabindex: "0",
        role: "button",
        "aria-pressed": "false",
        "data-index": passage.index,
        "data-labels": passage.labels.join(" "),
        id: "passage-" + passage.index
      });
      node.appendChild(el("span", { className: "passage-text", text: text }));
      passage.labels.forEach(function (label) { node.appendChild(badge(label)); });
    } else {
      node = el("span", {
        className: "passage " + kind,
        "data-index": passage.index,
        id: "passage-" + passage.index,
        tabindex: "-1",
        text: text
      });
    }
    node.addEventListener("click", function () { select(passage.index, true); });
    if (flagged) {
      node.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " " || event.key === "Spacebar") {
          event.preventDefault();
          select(passage.index, true);
        }
      });
    }
    state.elements[passage.index] = node;
    return node;
  }

  function renderDocument() {
    var container = $("document");
    clear(container);
    state.elements = {};
    var points = Array.from(state.text);
    var consistent = state.passages.every(function (p) {
      return points.slice(p.start, p.end).join("") === p.text;
    });
    if (!consistent) {
      /* Offsets do not match the submitted text: show the passages in order, with their own text. */
      state.passages.forEach(function (p, i) {
        if (i) container.appendChild(document.createTextNode("\n"));
        container.appendChild(passageNode(p, p.text));
      });
      return;
    }
    var cursor = 0;
    state.passages.forEach(function (p) {
      if (p.start < cursor) return; /* overlapping passage: skip rather than duplicate text */
      if (p.start > cursor) container.appendChild(document.createTextNode(points.slice(cursor, p.start).join("")));
      container.appendChild(passageNode(p, points.slice(p.start, p.end).join("")));
      cursor = p.end;
    });
    if (cursor < points.length) container.appendChild(document.createTextNode(points.slice(cursor).join("")));
  }

  function passageLink(index) {
    var passage = findPassage(index);
    var link = el("a", { href: "#passage-" + index, text: "Passage " + (index + 1) });
    if (passage) link.title = passage.text;
    link.addEventListener("click", function (event) {
      event.preventDefault();
      var node = state.elements[index];
      select(index, false);
      if (node) {
        node.scrollIntoView({ block: "center" });
        node.focus({ preventScroll: true });
      }
    });
    return link;
  }

  function renderSummary() {
    var result = state.result;
    var alerts = result.alerts || {};
    var body = $("summary-body");
    clear(body);
    var alerted = [];
    state.labels.forEach(function (label) {
      var a = alerts[label] || { alert: false, max_score: result.scores ? result.scores[label] : null, passages: [] };
      if (a.alert) alerted.push(humanName(label));
      var indices = a.passages || [];
      var cell = el("td", { className: "passages", text: String(indices.length) });
      if (indices.length) cell.appendChild(document.createTextNode(": "));
      indices.forEach(function (i) { cell.appendChild(passageLink(i)); });
      var unknown = a.alert === null;
      body.appendChild(el("tr", { "data-label": label }, [
        el("th", { scope: "row" }, [badge(label), " ", humanName(label)]),
        el("td", {
          className: a.alert ? "alert-yes" : unknown ? "alert-unknown" : "alert-no",
          title: unknown ? a.reason : null,
          text: a.alert ? "Yes – alert" : unknown ? "Unknown – not all read" : "No"
        }),
        el("td", { className: "num", text: fmt(a.max_score) }),
        cell
      ]));
    });
    var unsupported = result.unsupported_languages || [];
    var notice = unsupported.length
      ? " Some passages are in " + unsupported.map(languageName).join(", ") +
        ", which the model was not trained on: they were not scored and are marked in the text — read them yourself."
      : "";
    $("summary-line").textContent = (alerted.length
      ? "Alerts: " + alerted.join(", ") + "."
      : unsupported.length
        ? "No alerts in the passages the model could read."
        : "No alerts: no passage reached a label's threshold.") + notice;
    $("summary-line").classList.toggle("warn", unsupported.length > 0);
  }

  /* ---- Selection and details ---- */

  function findPassage(index) {
    for (var i = 0; i < state.passages.length; i++) if (state.passages[i].index === index) return state.passages[i];
    return null;
  }

  function select(index, moveFocus) {
    var passage = findPassage(index);
    if (!passage) return;
    if (state.selected !== null && state.elements[state.selected]) {
      state.elements[state.selected].classList.remove("selected");
      if (state.elements[state.selected].hasAttribute("aria-pressed")) state.elements[state.selected].setAttribute("aria-pressed", "false");
    }
    state.selected = index;
    var node = state.elements[index];
    if (node) {
      node.classList.add("selected");
      if (node.hasAttribute("aria-pressed")) node.setAttribute("aria-pressed", "true");
    }
    renderDetails(passage);
    if (moveFocus) {
      var heading = $("details-title");
      heading.focus({ preventScroll: true });
      var rect = $("details").getBoundingClientRect();
      if (rect.top < 0 || rect.top > window.innerHeight) $("details").scrollIntoView({ block: "start" });
    }
  }

  /* The score bars (threshold tick on each) and the evidence terms of a passage: details panel and review mode. */
  function renderScores(list, scores, flagged) {
    clear(list);
    state.labels.forEach(function (label) {
      var p = scores ? scores[label] : null;
      var pct = Math.max(0, Math.min(1, p || 0)) * 100;
      var bar = el("span", { className: "bar", "aria-hidden": "true" }, [
        el("span", { className: "bar-fill " + labelClass(label), style: null })
      ]);
      bar.firstChild.style.width = pct.toFixed(1) + "%";
      var threshold = state.thresholds[label];
      if (typeof threshold === "number") {
        var tick = el("span", { className: "bar-threshold", title: "threshold " + fmt(threshold) });
        tick.style.left = (threshold * 100).toFixed(1) + "%";
        bar.appendChild(tick);
      }
      var isFlagged = flagged.indexOf(label) >= 0;
      list.appendChild(el("li", { "data-label": label }, [
        el("span", { className: "score-name" }, [
          humanName(label),
          isFlagged ? el("span", { className: "flag-text", text: " (flagged)" }) : null
        ]),
        bar,
        el("span", { className: "score-num", text: fmt(p) })
      ]));
    });
  }

  function renderEvidence(container, evidence, flagged) {
    clear(container);
    var ev = evidence || {};
    var any = false;
    flagged.forEach(function (label) {
      var terms = ev[label] || [];
      if (!terms.length) return;
      any = true;
      container.appendChild(el("h4", null, [badge(label), " ", humanName(label)]));
      container.appendChild(el("ul", null, terms.map(function (t) {
        return el("li", null, [
          el("span", { className: "term", text: t.term }),
          " ",
          el("span", { className: "weight", text: "(weight " + (typeof t.weight === "number" ? t.weight.toFixed(2) : t.weight) + ")" })
        ]);
      })));
    });
    if (!any) {
      container.appendChild(el("p", { className: "hint", text: flagged.length ? "No evidence terms returned." : "No label flagged on this passage, so no evidence." }));
    }
  }

  function renderDetails(passage) {
    var bodyNode = $("details-body");
    if (!passage) {
      bodyNode.hidden = true;
      $("details-empty").hidden = false;
      $("details-title").textContent = "Passage details";
      return;
    }
    $("details-empty").hidden = true;
    bodyNode.hidden = false;
    $("details-title").textContent = "Passage " + (passage.index + 1) + " of " + state.passages.length;
    $("details-kind").textContent = KIND_NAMES[passage.kind] || passage.kind || "Passage";
    $("details-span").textContent = passage.start + "–" + passage.end;
    $("details-text").textContent = passage.text;
    var notice = $("details-language");
    notice.hidden = passage.supported !== false;
    notice.textContent = passage.supported === false ? unreadNotice(passage) : "";

    var flagged = passage.labels || [];
    renderScores($("details-scores"), passage.scores, flagged);
    renderEvidence($("details-evidence"), passage.evidence, flagged);

    var boxes = $("feedback-labels");
    clear(boxes);
    state.labels.forEach(function (label) {
      var id = "fb-" + label;
      var input = el("input", { type: "checkbox", id: id, name: "labels", value: label });
      input.checked = flagged.indexOf(label) >= 0;
      input.addEventListener("change", updateFeedbackButton);
      boxes.appendChild(el("label", { "for": id }, [input, badge(label), " ", humanName(label)]));
    });
    $("feedback-status").textContent = "";
    $("feedback-status").className = "feedback-status";
    updateFeedbackButton();

    var position = state.passages.indexOf(passage);
    $("prev-passage").disabled = position <= 0;
    $("next-passage").disabled = position >= state.passages.length - 1;
  }


  function labelsChanged() {
    var passage = findPassage(state.selected);
    if (!passage) return false;
    var now = checkedLabels("feedback").slice().sort().join(" ");
    var before = (passage.labels || []).slice().sort().join(" ");
    return now !== before;
  }

  function updateFeedbackButton() {
    $("feedback-send").textContent = labelsChanged() ? "Send correction" : "Confirm labels";
  }

  function sendFeedback() {
    var passage = findPassage(state.selected);
    if (!passage) return;
    var changed = labelsChanged();
    var labels = checkedLabels("feedback");
    var statusNode = $("feedback-status");
    var button = $("feedback-send");
    var headers = {};
    var payload = { text: passage.text, labels: labels, model_version: state.modelVersion };
    if (state.documentId) payload.document_id = state.documentId;
    button.disabled = true;
    statusNode.className = "feedback-status";
    statusNode.textContent = "Sending…";
    request("POST", "/v1/feedback", payload, headers).then(function (res) {
      if (res.ok) {
        var ids = (res.body && res.body.ids) || [];
        var what = changed ? "Correction stored" : "Labels confirmed and stored";
        statusNode.className = "feedback-status ok";
        statusNode.textContent = what + (ids.length ? " (id " + ids.join(", ") + ")" : "") +
          ": " + (labels.length ? labels.map(humanName).join(", ") : "no label") + ".";
      } else if (res.status === 401 || res.status === 403) {
        statusNode.className = "feedback-status error";
        statusNode.textContent = (res.status === 401
          ? "Not sent: the service requires a feedback token. Enter it under “Access token” at the top and send again."
          : "Not sent: the feedback token was refused. Check it under “Access token” at the top.") +
          (res.body && res.body.error && res.body.error.message ? " (" + res.body.error.message + ")" : "");
      } else {
        statusNode.className = "feedback-status error";
        statusNode.textContent = "Not sent: " + errorMessage(res.status, res.body);
      }
    }, function (err) {
      statusNode.className = "feedback-status error";
      statusNode.textContent = "Not sent: " + err.message;
    }).then(function () { button.disabled = false; });
  }

  function step(delta) {
    var passage = findPassage(state.selected);
    var position = state.passages.indexOf(passage) + delta;
    if (position < 0 || position >= state.passages.length) return;
    var next = state.passages[position];
    select(next.index, false);
    var node = state.elements[next.index];
    if (node) node.scrollIntoView({ block: "nearest" });
    (delta < 0 ? $("prev-passage") : $("next-passage")).focus();
    if ($("prev-passage").disabled && delta < 0) $("next-passage").focus();
    if ($("next-passage").disabled && delta > 0) $("prev-passage").focus();
  }

  /* ---- Review mode: the queue's passages one at a time ---- */

  var QUEUE_BATCH = 10;
  var review = { active: false, items: [], current: null, labelled: 0, skipped: 0, pending: null, busy: false };

  function isTyping(target) {
    if (!target || !target.tagName) return false;
    var tag = target.tagName.toLowerCase();
    if (tag === "textarea" || tag === "select" || target.isContentEditable) return true;
    return tag === "input" && target.type !== "checkbox";
  }

  function setMode(mode) {
    review.active = mode === "review";
    adjudication.active = mode === "adjudicate";
    monitor.active = mode === "monitor";
    $("mode-analyse").setAttribute("aria-pressed", mode === "analyse" ? "true" : "false");
    $("mode-review").setAttribute("aria-pressed", review.active ? "true" : "false");
    $("mode-adjudicate").setAttribute("aria-pressed", adjudication.active ? "true" : "false");
    $("mode-monitor").setAttribute("aria-pressed", monitor.active ? "true" : "false");
    document.querySelector("main").classList.toggle("review-active", review.active);
    document.querySelector("main").classList.toggle("adjudicate-active", adjudication.active);
    document.querySelector("main").classList.toggle("monitor-active", monitor.active);
    $("review-mode").hidden = !review.active;
    $("adjudicate-mode").hidden = !adjudication.active;
    $("monitor-mode").hidden = !monitor.active;
    setStatus("");
    if (adjudication.active) {
      loadAdjudication();
      return;
    }
    if (monitor.active) {
      loadMonitor();
      return;
    }
    if (!review.active) {
      $("text").focus();
      return;
    }
    if (review.current) focusCard();
    else loadQueue();
  }

  function focusCard() {
    var card = $("review-card");
    if (!card.hidden) card.focus({ preventScroll: true });
    else if (!$("review-empty").hidden) $("review-reload").focus();
  }

  function renderReviewCount() {
    var parts = ["Labelled " + review.labelled, "skipped " + review.skipped + " in this session"];
    var line = parts.join(" · ");
    if (typeof review.pending === "number") {
      line += " · " + review.pending + (review.pending === 1 ? " passage" : " passages") + " waiting in the queue";
    }
    $("review-count").textContent = line + ".";
  }

  /* Fetch the next passages; `keepStatus` leaves the last save/skip message in the status line. */
  function loadQueue(keepStatus) {
    if (review.busy) return;
    review.busy = true;
    $("review-mode").setAttribute("aria-busy", "true");
    if (keepStatus !== true) setStatus("Loading the review queue…");
    request("GET", "/v1/queue?limit=" + QUEUE_BATCH).then(function (res) {
      if (!res.ok || !res.body || !Array.isArray(res.body.items)) {
        setStatus(errorMessage(res.status, res.body), "error");
        return;
      }
      var body = res.body;
      if (Array.isArray(body.labels) && body.labels.length) state.labels = body.labels.slice();
      if (body.thresholds) state.thresholds = body.thresholds;
      setModelVersion(body.model_version);
      review.items = body.items.slice();
      review.pending = body.counts ? body.counts.pending : null;
      if (keepStatus !== true) setStatus("");
      showReviewItem();
    }, function (err) {
      setStatus(err.message, "error");
    }).then(function () {
      review.busy = false;
      $("review-mode").removeAttribute("aria-busy");
    });
  }

  function describe(item) {
    var parts = [];
    if (item.document_id !== null && item.document_id !== undefined) parts.push("Document " + item.document_id);
    parts.push(KIND_NAMES[item.kind] || "Passage");
    if (typeof item.start === "number") parts.push("characters " + item.start + "–" + item.end);
    parts.push("rank " + item.rank);
    if (item.origin === "capture") parts.push("captured from an analysis");
    return parts.join(" · ");
  }

  function showReviewItem() {
    review.current = review.items.length ? review.items.shift() : null;
    renderReviewCount();
    var item = review.current;
    $("review-card").hidden = !item;
    $("review-empty").hidden = !!item;
    if (!item) {
      $("review-empty-text").textContent = "The review queue is empty: nothing is waiting to be labelled. " +
        "Passages are added with POST /v1/queue (or captured from analyses when the operator turns that on).";
      $("review-reload").focus();
      return;
    }
    $("review-meta").textContent = describe(item);
    var context = item.context || {};
    $("review-before").textContent = context.before || "";
    $("review-text").textContent = item.text;
    $("review-after").textContent = context.after || "";
    var flagged = item.labels || [];
    renderScores($("review-scores"), item.scores, flagged);
    renderEvidence($("review-evidence"), item.evidence, flagged);

    labelBoxes("review", flagged);
    focusCard();
  }

  /* The label checkboxes of a card (`mode`-labels, ticked: `checked`), keys 1-9 toggling them, and the keys'
     hint in `mode`-keys: the review and adjudication cards share them. */
  function labelBoxes(mode, checked) {
    var boxes = $(mode + "-labels");
    clear(boxes);
    var keys = [];
    state.labels.forEach(function (label, i) {
      var id = mode + "-label-" + label;
      var input = el("input", { type: "checkbox", id: id, name: mode + "-labels", value: label });
      input.checked = checked.indexOf(label) >= 0;
      var key = i < 9 ? String(i + 1) : null;
      if (key) {
        input.setAttribute("aria-keyshortcuts", key);
        keys.push(key);
      }
      boxes.appendChild(el("label", { "for": id }, [
        input,
        key ? el("kbd", { text: key }) : null,
        badge(label), " ", humanName(label)
      ]));
    });
    var hint = $(mode + "-keys");
    clear(hint);
    keys.forEach(function (key, i) {
      if (i) hint.appendChild(document.createTextNode(" "));
      hint.appendChild(el("kbd", { text: key }));
    });
  }

  /* The labels ticked in `mode`-labels: the analysis card's feedback boxes, or a card made by `labelBoxes`. */
  function checkedLabels(mode) {
    return Array.prototype.filter.call($(mode + "-labels").querySelectorAll("input[type=checkbox]"), function (b) {
      return b.checked;
    }).map(function (b) { return b.value; });
  }

  /* Key 1-9 on a card made by `labelBoxes`: toggle the label at that position. */
  function toggleLabel(mode, position) {
    var boxes = $(mode + "-labels").querySelectorAll("input[type=checkbox]");
    if (position < boxes.length) boxes[position].checked = !boxes[position].checked;
  }

  function decide(action) {
    var item = review.current;
    if (!item || review.busy) return;
    var labels = checkedLabels("review");
    var url = "/v1/queue/" + encodeURIComponent(item.id) + "/" + action;
    review.busy = true;
    $("review-save").disabled = true;
    $("review-skip").disabled = true;
    setStatus(action === "label" ? "Saving…" : "Skipping…");
    request("POST", url, action === "label" ? { labels: labels } : undefined).then(function (res) {
      if (!res.ok) {
        setStatus((action === "label" ? "Not saved: " : "Not skipped: ") + errorMessage(res.status, res.body), "error");
        return;
      }
      if (res.body && res.body.counts) review.pending = res.body.counts.pending;
      if (action === "label") {
        review.labelled += 1;
        setStatus("Saved as feedback (id " + res.body.feedback_id + "): " +
          (labels.length ? labels.map(humanName).join(", ") : "no label") + ".", "ok");
      } else {
        review.skipped += 1;
        setStatus("Skipped: it will not be offered again.", "ok");
      }
      return true;
    }, function (err) {
      setStatus((action === "label" ? "Not saved: " : "Not skipped: ") + err.message, "error");
    }).then(function (done) {
      review.busy = false;
      $("review-save").disabled = false;
      $("review-skip").disabled = false;
      if (!done) return;
      if (review.items.length) showReviewItem();
      else loadQueue(true);
    });
  }

  function onReviewKey(event) {
    if (!review.active || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    if (!review.current || $("review-card").hidden) return;
    var key = event.key;
    if (/^[1-9]$/.test(key)) {
      event.preventDefault();
      toggleLabel("review", Number(key) - 1);
    } else if (key === "s" || key === "S") {
      event.preventDefault();
      decide("skip");
    } else if (key === "Enter") {
      var tag = event.target && event.target.tagName ? event.target.tagName.toLowerCase() : "";
      if (tag === "button" || tag === "a" || tag === "summary") return; /* Enter keeps its own meaning there */
      event.preventDefault();
      decide("label");
    }
  }

  /* ---- Monitor mode: alert rate per label over the recent window (GET /v1/monitor), charted with the
     vendored uPlot (service/static/uPlot.iife.min.js) ---- */

  var monitor = { active: false, chart: null };
  var CHART_COLOURS = ["#b3261e", "#1d5fa8", "#2e7d32", "#8e44ad", "#c77700", "#00796b"];

  function percent(value) {
    return typeof value === "number" ? Math.round(value * 1000) / 10 + "%" : "–";
  }

  function flagText(flag) {
    if (flag.flag === "drift") return "drift (PSI " + fmt(flag.psi) + " ≥ " + fmt(flag.threshold) + ")";
    var word = flag.flag === "alert_rate_high" ? "alert rate high" : "alert rate low";
    return word + " (×" + fmt(flag.alert_rate_ratio) + ", threshold ×" + fmt(flag.threshold) + ")";
  }

  function renderMonitor(report) {
    var all = report.sources.all;
    var sources = Object.keys(report.sources).filter(function (name) { return name !== "all"; });
    $("monitor-summary").textContent = all.passages + (all.passages === 1 ? " passage" : " passages") +
      " in the window (at most " + report.window.limit + ") scored by " + report.model_version +
      (sources.length ? "; sources: " + sources.join(", ") : "") + ".";
    var body = $("monitor-body");
    clear(body);
    Object.keys(all.labels).forEach(function (label) {
      var entry = all.labels[label];
      body.appendChild(el("tr", { "data-label": label }, [
        el("th", { scope: "row" }, [badge(label), " ", humanName(label)]),
        el("td", { "class": "rate", text: percent(entry.alert_rate) }),
        el("td", { "class": "expected", text: percent(entry.expected_alert_rate) }),
        el("td", { "class": "psi", text: entry.psi === null ? "–" : fmt(entry.psi) }),
        el("td", { "class": "flags" + (entry.flags.length ? " flag" : ""),
                   text: entry.flags.length ? entry.flags.map(flagText).join("; ") : "none" })
      ]));
    });
    drawChart(report.timeline);
  }

  function drawChart(timeline) {
    var box = $("monitor-chart");
    if (monitor.chart) { monitor.chart.destroy(); monitor.chart = null; }
    clear(box);
    if (!timeline.times.length) {
      box.appendChild(el("p", { "class": "hint", text: "No passages scored yet." }));
      return;
    }
    var labels = Object.keys(timeline.alert_rates);
    // x: passages of the window up to each span's end, oldest first (a burst in one second has no time axis)
    var seen = 0;
    var upTo = timeline.passages.map(function (n) { seen += n; return seen; });
    var data = [upTo].concat(labels.map(function (label) { return timeline.alert_rates[label]; }));
    var series = [{ label: "Passages" }].concat(labels.map(function (label, i) {
      return { label: humanName(label), stroke: CHART_COLOURS[i % CHART_COLOURS.length], width: 2,
               value: function (u, v) { return percent(v); } };
    }));
    monitor.chart = new window.uPlot({
      width: Math.max(320, Math.min(box.clientWidth || 720, 960)),
      height: 240,
      series: series,
      scales: { x: { time: false }, y: { range: [0, 1] } },
      axes: [{ label: "Passages of the window, oldest first" },
             { label: "Alert rate", values: function (u, ticks) { return ticks.map(percent); } }]
    }, data, box);
  }

  function loadMonitor() {
    $("monitor-mode").setAttribute("aria-busy", "true");
    return request("GET", "/v1/monitor").then(function (res) {
      $("monitor-mode").removeAttribute("aria-busy");
      if (!res.ok) {
        setStatus(errorMessage(res.status, res.body), "error");
        return;
      }
      renderMonitor(res.body);
    }, function (err) {
      $("monitor-mode").removeAttribute("aria-busy");
      setStatus(err.message, "error");
    });
  }

  /* ---- Adjudication mode: agreement, then the disagreements one at a time ---- */

  var adjudication = { active: false, items: [], current: null, resolved: 0, unresolved: null, busy: false };

  function labelList(labels) {
    return labels.length ? labels.map(humanName).join(", ") : "no label";
  }

  function renderAgreement(report) {
    var names = report.annotators || [];
    $("agreement-summary").textContent = report.passages + (report.passages === 1 ? " passage" : " passages") +
      " labelled by at least two analysts" + (names.length ? " (" + names.join(", ") + ")" : "") + ".";
    var body = $("agreement-body");
    clear(body);
    state.labels.forEach(function (label) {
      var figures = (report.labels || {})[label];
      if (!figures) return;
      var pairs = figures.pairs.map(function (pair) {
        return pair.annotators.join("–") + " " + fmt(pair.kappa) + " (" + pair.passages + ")";
      }).join(" · ");
      body.appendChild(el("tr", { "data-label": label }, [
        el("th", { scope: "row" }, [badge(label), " ", humanName(label)]),
        el("td", { "class": "alpha", text: fmt(figures.alpha) }),
        el("td", { "class": "kappa", text: pairs || "–" })
      ]));
    });
    var consensus = Object.keys(report.consensus || {}).map(function (name) {
      var c = report.consensus[name];
      return name + " " + (typeof c.agreement === "number" ? Math.round(c.agreement * 1000) / 10 + "%" : "–") +
        " of " + c.decisions + " decisions";
    });
    $("agreement-consensus").textContent = consensus.length
      ? "Agreement with the consensus (adjudicated labels, else the majority): " + consensus.join(" · ") + "."
      : "";
  }

  function renderAdjudicationCount() {
    var line = "Resolved " + adjudication.resolved + " in this session";
    if (typeof adjudication.unresolved === "number") {
      line += " · " + adjudication.unresolved + (adjudication.unresolved === 1 ? " disagreement" : " disagreements") +
        " unresolved";
    }
    $("adjudicate-count").textContent = line + ".";
  }

  function loadAdjudication(keepStatus) {
    if (adjudication.busy) return;
    adjudication.busy = true;
    $("adjudicate-mode").setAttribute("aria-busy", "true");
    if (keepStatus !== true) setStatus("Loading the agreement and the disagreements…");
    request("GET", "/v1/agreement").then(function (res) {
      if (!res.ok || !res.body) {
        setStatus(errorMessage(res.status, res.body), "error");
        return null;
      }
      renderAgreement(res.body);
      return request("GET", "/v1/disagreements?state=unresolved");
    }).then(function (res) {
      if (!res) return;
      if (!res.ok || !res.body || !Array.isArray(res.body.items)) {
        setStatus(errorMessage(res.status, res.body), "error");
        return;
      }
      adjudication.items = res.body.items.slice();
      adjudication.unresolved = res.body.counts ? res.body.counts.unresolved : null;
      if (keepStatus !== true) setStatus("");
      showDisagreement();
    }, function (err) {
      setStatus(err.message, "error");
    }).then(function () {
      adjudication.busy = false;
      $("adjudicate-mode").removeAttribute("aria-busy");
    });
  }

  function showDisagreement() {
    adjudication.current = adjudication.items.length ? adjudication.items.shift() : null;
    renderAdjudicationCount();
    var item = adjudication.current;
    $("adjudicate-card").hidden = !item;
    $("adjudicate-empty").hidden = !!item;
    if (!item) {
      $("adjudicate-empty-text").textContent = "No unresolved disagreement: every passage the analysts labelled " +
        "differently has its final labels.";
      $("adjudicate-reload").focus();
      return;
    }
    var meta = [];
    if (item.document_id !== null && item.document_id !== undefined) meta.push("Document " + item.document_id);
    meta.push(item.annotations.length + " analysts");
    meta.push("they differ on " + item.disputed_labels.map(humanName).join(", "));
    $("adjudicate-meta").textContent = meta.join(" · ");
    $("adjudicate-text").textContent = item.text;
    var list = $("adjudicate-annotations");
    clear(list);
    item.annotations.forEach(function (a) {
      list.appendChild(el("li", { "data-annotator": a.annotator }, [
        el("strong", { text: a.annotator }), ": " + labelList(a.labels)
      ]));
    });
    /* Ticked to start with: the labels every analyst gave (the disputed ones are left to the adjudicator). */
    var agreed = item.annotations.reduce(function (common, a) {
      return common.filter(function (label) { return a.labels.indexOf(label) >= 0; });
    }, item.annotations.length ? item.annotations[0].labels.slice() : []);
    labelBoxes("adjudicate", agreed);
    $("adjudicate-card").focus({ preventScroll: true });
  }

  function resolveCurrent() {
    var item = adjudication.current;
    if (!item || adjudication.busy) return;
    var labels = checkedLabels("adjudicate");
    adjudication.busy = true;
    $("adjudicate-save").disabled = true;
    setStatus("Resolving…");
    var url = "/v1/disagreements/" + encodeURIComponent(item.id) + "/resolve";
    request("POST", url, { labels: labels }).then(function (res) {
      if (!res.ok) {
        setStatus("Not resolved: " + errorMessage(res.status, res.body), "error");
        return false;
      }
      adjudication.resolved += 1;
      if (typeof adjudication.unresolved === "number") adjudication.unresolved -= 1;
      setStatus("Resolved: the next retrain learns " + labelList(labels) + ".", "ok");
      return true;
    }, function (err) {
      setStatus("Not resolved: " + err.message, "error");
      return false;
    }).then(function (done) {
      adjudication.busy = false;
      $("adjudicate-save").disabled = false;
      if (!done) return;
      if (adjudication.items.length) showDisagreement();
      else loadAdjudication(true); /* the consensus figures change with each resolution */
    });
  }

  function later() {
    if (!adjudication.current || adjudication.busy) return;
    adjudication.items.push(adjudication.current);
    showDisagreement();
  }

  function onAdjudicationKey(event) {
    if (!adjudication.active || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    if (!adjudication.current || $("adjudicate-card").hidden) return;
    var key = event.key;
    if (/^[1-9]$/.test(key)) {
      event.preventDefault();
      toggleLabel("adjudicate", Number(key) - 1);
    } else if (key === "n" || key === "N") {
      event.preventDefault();
      later();
    } else if (key === "Enter") {
      var tag = event.target && event.target.tagName ? event.target.tagName.toLowerCase() : "";
      if (tag === "button" || tag === "a" || tag === "summary") return;
      event.preventDefault();
      resolveCurrent();
    }
  }

  /* ---- Wiring ---- */

  function init() {
    renderLegend();
    var form = $("analyse-form");
    var textarea = $("text");
    form.addEventListener("submit", function (event) { event.preventDefault(); analyse(); });
    textarea.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        analyse();
      }
    });
    textarea.addEventListener("input", function () {
      if (state.result && textarea.value !== state.text) {
        setStatus("The text has changed since the analysis below: analyse again to update it.");
      }
    });
    $("file").addEventListener("change", function () {
      var file = this.files && this.files[0];
      if (!file) return;
      var reader = new FileReader();
      reader.onload = function () {
        textarea.value = String(reader.result || "");
        setStatus("Opened " + file.name + " (" + Array.from(textarea.value).length + " characters). Press Analyse to run.");
        textarea.focus();
      };
      reader.onerror = function () { setStatus("Could not read " + file.name + ".", "error"); };
      reader.readAsText(file, "utf-8");
    });
    $("clear").addEventListener("click", function () {
      textarea.value = "";
      $("file").value = "";
      $("results").hidden = true;
      state.result = null;
      setStatus("");
      textarea.focus();
    });
    $("feedback-form").addEventListener("submit", function (event) { event.preventDefault(); sendFeedback(); });
    $("back-to-passage").addEventListener("click", function () {
      var node = state.elements[state.selected];
      if (node) {
        if (!node.hasAttribute("tabindex") || node.getAttribute("tabindex") === "-1") node.setAttribute("tabindex", "-1");
        node.focus();
      }
    });
    $("mode-analyse").addEventListener("click", function () { setMode("analyse"); });
    $("mode-review").addEventListener("click", function () { setMode("review"); });
    $("mode-adjudicate").addEventListener("click", function () { setMode("adjudicate"); });
    $("mode-monitor").addEventListener("click", function () { setMode("monitor"); });
    $("monitor-reload").addEventListener("click", function () { loadMonitor(); });
    $("adjudicate-form").addEventListener("submit", function (event) { event.preventDefault(); resolveCurrent(); });
    $("adjudicate-later").addEventListener("click", later);
    $("adjudicate-reload").addEventListener("click", function () { loadAdjudication(); });
    document.addEventListener("keydown", onAdjudicationKey);
    $("review-form").addEventListener("submit", function (event) { event.preventDefault(); decide("label"); });
    $("review-skip").addEventListener("click", function () { decide("skip"); });
    $("review-reload").addEventListener("click", function () { loadQueue(); });
    document.addEventListener("keydown", onReviewKey);
    $("prev-passage").addEventListener("click", function () { step(-1); });
    $("next-passage").addEventListener("click", function () { step(1); });
    loadModel();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
