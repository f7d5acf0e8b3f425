/* The review room in the browser (issue 17): a frame-accurate player with note marks on its
 * timeline and drawings over the video, the note composer's drawing tools, the review compare
 * (side by side, wipe, overlay, difference, flicker, control layers) and the address bar.
 *
 * Loaded once into the page's <head> (cosmos_ui/app.py); the gr.HTML pieces call
 * CosmosReview.mount*(element) from their js_on_load and again when their value changes.
 * Frames count from 0: frame N is shown from N / fps seconds, so a player seeks to the middle
 * of a frame, (N + 0.5) / fps, and reads the frame shown as floor(t * fps). Drawings are lists
 * of shapes in 0-1 coordinates of the frame (backend/review/drawing.py draws them the same).
 */
(function () {
  if (window.CosmosReview) return;
  const R = window.CosmosReview = {players: {}, compares: {}, notes: {}, active: null,
                                   state: {tab: null, run: null, note: null, a: null, b: null},
                                   pendingNote: null, routerTrigger: null};

  const clamp = (v, lo, hi) => Math.max(lo, Math.min(hi, v));
  const pad = (n) => String(n).padStart(2, '0');
  R.timecode = function (frame, fps) {
    const rate = Math.max(1, Math.round(fps || 24));
    const f = Math.max(0, frame | 0), ff = f % rate, s = Math.floor(f / rate);
    return pad(Math.floor(s / 3600)) + ':' + pad(Math.floor(s / 60) % 60) + ':' + pad(s % 60) + ':' + pad(ff);
  };

  // -- drawing shapes on a 2D context (w x h pixels) ------------------------------------------
  function drawShape(ctx, shape, w, h, highlight) {
    const pts = (shape.points || []).map(p => [p[0] * w, p[1] * h]);
    if (pts.length < 2) return;
    ctx.save();
    ctx.strokeStyle = shape.color; ctx.fillStyle = shape.color;
    ctx.lineWidth = Math.max(1, (shape.width || 0.006) * w) * (highlight ? 1.6 : 1);
    ctx.lineJoin = 'round'; ctx.lineCap = 'round';
    ctx.shadowColor = 'rgba(0,0,0,0.6)'; ctx.shadowBlur = 2;
    const [a, b] = pts;
    ctx.beginPath();
    if (shape.tool === 'rect') {
      ctx.rect(Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1]));
      ctx.stroke();
    } else if (shape.tool === 'ellipse') {
      ctx.ellipse((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, Math.abs(b[0] - a[0]) / 2, Math.abs(b[1] - a[1]) / 2, 0, 0, 2 * Math.PI);
      ctx.stroke();
    } else if (shape.tool === 'arrow') {
      ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
      const ang = Math.atan2(b[1] - a[1], b[0] - a[0]), len = Math.max(8, ctx.lineWidth * 4);
      ctx.beginPath(); ctx.moveTo(b[0], b[1]);
      ctx.lineTo(b[0] - len * Math.cos(ang - 0.45), b[1] - len * Math.sin(ang - 0.45));
      ctx.lineTo(b[0] - len * Math.cos(ang + 0.45), b[1] - len * Math.sin(ang + 0.45));
      ctx.closePath(); ctx.fill();
    } else {
      ctx.moveTo(pts[0][0], pts[0][1]);
      for (const p of pts.slice(1)) ctx.lineTo(p[0], p[1]);
      ctx.stroke();
    }
    ctx.restore();
  }
  R.drawShape = drawShape;

  function notesAt(list, frame) {
    return (list || []).filter(n => n.frame !== null && n.drawing && n.drawing.length &&
      frame >= n.frame && frame <= (n.end_frame === null || n.end_frame === undefined ? n.frame : n.end_frame));
  }

  // -- the player -----------------------------------------------------------------------------
  class Player {
    constructor(root) {
      this.root = root;
      this.key = root.dataset.key || 'run';
      this.run = root.dataset.runId || null;
      this.fps = parseFloat(root.dataset.fps) || 24;
      this.frames = parseInt(root.dataset.frames, 10) || 0;
      this.video = root.querySelector('video.rp-video');
      this.canvas = root.querySelector('canvas.rp-draw');
      this.followers = () => Array.from(root.querySelectorAll('video.rp-follow'));
      this.draft = {shapes: [], tool: null, color: '#ff3b30', inFrame: null, outFrame: null, live: null};
      this.selected = null;
      this.shuttle = 0;  // -4..4: J/K/L speed, negative is backwards
      this.drawnKey = '';
      this.mediaFrame = null;
      this.group = null;  // a Compare when this player is one side
      root.dataset.drawn = '';
      if (this.canvas) this.canvas.hidden = true;
      this.bind();
    }
    get notes() { return R.notes[this.run] || []; }
    frame() {
      if (!this.video) return 0;
      const f = Math.floor(this.video.currentTime * this.fps + 1e-6);
      return this.frames ? clamp(f, 0, this.frames - 1) : Math.max(0, f);
    }
    seekFrame(n, fromGroup) {
      if (!this.video) return;
      const f = this.frames ? clamp(n | 0, 0, this.frames - 1) : Math.max(0, n | 0);
      this.stopShuttle(true);
      this.video.pause();
      this.video.currentTime = (f + 0.5) / this.fps;
      if (this.group && !fromGroup) this.group.follow(this, 'seek', f);
    }
    step(d, fromGroup) {
      this.seekFrame(this.frame() + d, true);
      if (this.group && !fromGroup) this.group.follow(this, 'step', d);
    }
    playing() { return this.video && (!this.video.paused || this.shuttle < 0); }
    toggle(fromGroup) { if (this.playing()) this.pause(fromGroup); else this.play(fromGroup); }
    play(fromGroup) {
      if (!this.video) return;
      this.stopShuttle(true);
      if (this.frames && this.frame() >= this.frames - 1) this.video.currentTime = 0.5 / this.fps;
      this.video.playbackRate = 1; this.video.muted = true;
      this.video.play().catch(() => {});
      if (this.group && !fromGroup) this.group.follow(this, 'play');
    }
    pause(fromGroup) {
      if (!this.video) return;
      this.stopShuttle(true); this.video.pause();
      if (this.group && !fromGroup) this.group.follow(this, 'pause');
    }
    stopShuttle(keepPlaying) {
      if (this.reverse) { clearInterval(this.reverse); this.reverse = null; }
      if (!keepPlaying) this.video && this.video.pause();
      this.shuttle = 0;
    }
    // J/K/L: L plays forward (again: faster), J backwards (again: faster), K stops.
    jkl(key, fromGroup) {
      if (!this.video) return;
      if (key === 'k') { this.pause(true); }
      else {
        const dir = key === 'l' ? 1 : -1;
        let speed = (Math.sign(this.shuttle) === dir) ? Math.min(4, Math.abs(this.shuttle) * 2) : 1;
        this.stopShuttle(true);
        this.shuttle = dir * speed;
        if (dir > 0) { this.video.playbackRate = speed; this.video.muted = true; this.video.play().catch(() => {}); }
        else {
          this.video.pause();
          const tick = 1000 / this.fps;
          this.reverse = setInterval(() => {
            const t = this.video.currentTime - speed / this.fps;
            if (t <= 0) { this.video.currentTime = 0.5 / this.fps; this.stopShuttle(true); return; }
            this.video.currentTime = t;
          }, tick);
        }
      }
      if (this.group && !fromGroup) this.group.follow(this, 'jkl', key);
    }
    bind() {
      const root = this.root;
      root.addEventListener('click', (ev) => {
        R.active = this;
        const b = ev.target.closest('[data-act]');
        if (!b || !root.contains(b)) return;
        const act = b.dataset.act;
        if (act === 'play') this.toggle();
        else if (act === 'prev') this.step(-1);
        else if (act === 'next') this.step(1);
        else if (act === 'back10') this.step(-10);
        else if (act === 'fwd10') this.step(10);
        else if (act === 'first') this.seekFrame(0);
        else if (act === 'last') this.seekFrame(this.frames - 1);
        else if (act === 'j' || act === 'k' || act === 'l') this.jkl(act);
        else if (act === 'layer') this.toggleLayer(b);
      });
      root.addEventListener('keydown', (ev) => this.key_(ev));
      const stage = root.querySelector('.rp-stage');
      if (stage) stage.addEventListener('click', (ev) => {
        if (this.draft.tool || ev.target.closest('[data-act]')) return;
        this.toggle();
      });
      const tl = root.querySelector('.rp-timeline');
      if (tl) {
        const seekTo = (ev) => {
          const mark = ev.target.closest('.rp-mark');
          if (mark) { R.selectNote(parseInt(mark.dataset.note, 10), this); return; }
          const r = tl.getBoundingClientRect();
          const x = clamp((ev.clientX - r.left) / r.width, 0, 1);
          this.seekFrame(Math.round(x * Math.max(0, this.frames - 1)));
        };
        tl.addEventListener('pointerdown', (ev) => { R.active = this; seekTo(ev); });
      }
      if (this.canvas) this.bindDrawing();
      if (this.video) {
        const watchFrames = () => {
          if (!this.video || !this.video.requestVideoFrameCallback) return;
          this.video.requestVideoFrameCallback((now, meta) => {
            this.mediaFrame = Math.round(meta.mediaTime * this.fps);
            watchFrames();
          });
        };
        watchFrames();
        this.video.addEventListener('seeked', () => this.drawnKey = '');
      }
    }
    key_(ev) {
      if (ev.target.closest('textarea, input, select')) return;
      const k = ev.key;
      let done = true;
      if (k === 'ArrowLeft') this.step(ev.shiftKey ? -10 : -1);
      else if (k === 'ArrowRight') this.step(ev.shiftKey ? 10 : 1);
      else if (k === ' ') this.toggle();
      else if (k === 'j' || k === 'k' || k === 'l') this.jkl(k);
      else if (k === 'i') R.setIn(this);
      else if (k === 'o') R.setOut(this);
      else if (k === 'Home') this.seekFrame(0);
      else if (k === 'End') this.seekFrame(this.frames - 1);
      else done = false;
      if (done) { ev.preventDefault(); ev.stopPropagation(); }
    }
    toggleLayer(box) {
      const layer = this.root.querySelector('video.rp-layer');
      if (!layer) return;
      const on = box.type === 'checkbox' ? box.checked : !layer.classList.contains('on');
      layer.classList.toggle('on', on);
      this.root.dataset.layer = on ? layer.dataset.control : '';
      if (this.group) this.group.dirty = true;
    }
    layerOpacity() {
      const s = this.root.querySelector('.rp-layer-opacity');
      return s ? parseFloat(s.value) / 100 : 0.6;
    }
    // -- drawing -------------------------------------------------------------------------------
    bindDrawing() {
      const c = this.canvas;
      const norm = (ev) => {
        const r = c.getBoundingClientRect();
        return [Math.round(clamp((ev.clientX - r.left) / r.width, 0, 1) * 1e5) / 1e5,
                Math.round(clamp((ev.clientY - r.top) / r.height, 0, 1) * 1e5) / 1e5];
      };
      c.addEventListener('pointerdown', (ev) => {
        const d = this.draft;
        if (!d.tool) return;
        ev.preventDefault(); R.active = this;
        this.pause();
        c.setPointerCapture(ev.pointerId);
        const p = norm(ev);
        d.live = {tool: d.tool, color: d.color, width: 0.006, points: [p, p]};
      });
      c.addEventListener('pointermove', (ev) => {
        const d = this.draft; if (!d.live) return;
        const p = norm(ev);
        if (d.live.tool === 'freehand') {
          const last = d.live.points[d.live.points.length - 1];
          if (Math.hypot(p[0] - last[0], p[1] - last[1]) > 0.002 && d.live.points.length < 2000) d.live.points.push(p);
        } else d.live.points[1] = p;
        this.drawnKey = '';
      });
      const end = () => {
        const d = this.draft; if (!d.live) return;
        const [a, b] = [d.live.points[0], d.live.points[d.live.points.length - 1]];
        if (d.live.tool === 'freehand' ? d.live.points.length > 2 : Math.hypot(b[0] - a[0], b[1] - a[1]) > 0.005) {
          if (d.live.tool === 'freehand' && d.live.points.length === 2) d.live.points.pop();
          d.shapes.push(d.live);
        }
        d.live = null; this.drawnKey = ''; R.composerChanged(this);
      };
      c.addEventListener('pointerup', end);
      c.addEventListener('pointercancel', end);
    }
    setTool(tool) {
      this.draft.tool = tool || null;
      this.root.classList.toggle('drawing', !!this.draft.tool);
      // the overlay is there as soon as a tool is picked, not a frame later: the first
      // stroke may start at once
      if (this.canvas && this.draft.tool) this.canvas.hidden = false;
    }
    clearDraft() {
      Object.assign(this.draft, {shapes: [], live: null, inFrame: null, outFrame: null});
      this.drawnKey = ''; R.composerChanged(this);
    }
    // -- each animation frame -----------------------------------------------------------------
    tick() {
      if (!this.video || !this.root.isConnected) return;
      const f = this.frame(), root = this.root;
      const set = (k, v) => { if (root.dataset[k] !== v) root.dataset[k] = v; };
      set('frame', String(f));
      if (this.mediaFrame !== null) set('mediaFrame', String(this.mediaFrame));
      set('paused', this.video.paused && !this.reverse ? '1' : '0');
      const label = root.querySelector('.rp-frame');
      const text = 'frame ' + f + ' / ' + Math.max(0, this.frames - 1) + ' · ' + R.timecode(f, this.fps);
      if (label && label.textContent !== text) label.textContent = text;
      const head = root.querySelector('.rp-head');
      if (head && this.frames) head.style.left = (100 * f / Math.max(1, this.frames - 1)) + '%';
      const btn = root.querySelector('[data-act=play]');
      if (btn) { const t = this.playing() ? 'Pause' : 'Play'; if (btn.textContent !== t) btn.textContent = t; }
      const sp = root.querySelector('.rp-speed');
      if (sp) { const t = this.shuttle ? (this.shuttle > 0 ? '▶ ' : '◀ ') + Math.abs(this.shuttle) + 'x' : ''; if (sp.textContent !== t) sp.textContent = t; }
      for (const v of this.followers()) {
        if (Math.abs(v.currentTime - this.video.currentTime) > 0.5 / this.fps) v.currentTime = this.video.currentTime;
        if (this.video.paused && !v.paused) v.pause();
        if (!this.video.paused && v.paused) { v.muted = true; v.play().catch(() => {}); }
      }
      this.renderMarks();
      this.renderDrawing(f);
    }
    renderMarks() {
      const box = this.root.querySelector('.rp-marks');
      if (!box) return;
      const notes = this.notes, d = this.draft;
      const key = JSON.stringify([notes.map(n => [n.id, n.frame, n.end_frame, n.resolved]), this.selected, d.inFrame, d.outFrame, this.frames]);
      if (box.dataset.key === key) return;
      box.dataset.key = key;
      const span = Math.max(1, this.frames - 1);
      const marks = notes.filter(n => n.frame !== null).map(n => {
        const end = n.end_frame === null || n.end_frame === undefined ? n.frame : n.end_frame;
        const w = Math.max(0.6, 100 * (end - n.frame) / span);
        return '<button type="button" class="rp-mark' + (n.resolved ? ' resolved' : '') + (n.id === this.selected ? ' selected' : '') +
          '" data-note="' + n.id + '" data-frame="' + n.frame + '" title="frame ' + n.frame + ': ' +
          String(n.text || '').replace(/[&<>"]/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c])).slice(0, 80) +
          '" style="left:' + (100 * n.frame / span) + '%;width:' + w + '%"></button>';
      });
      if (d.inFrame !== null) {
        const end = d.outFrame === null ? d.inFrame : d.outFrame;
        marks.push('<div class="rp-inout" style="left:' + (100 * d.inFrame / span) + '%;width:' +
          Math.max(0.6, 100 * (end - d.inFrame) / span) + '%"></div>');
      }
      box.innerHTML = marks.join('');
    }
    renderDrawing(f) {
      const c = this.canvas; if (!c) return;
      const d = this.draft, shown = notesAt(this.notes, f);
      const empty = !shown.length && !d.shapes.length && !d.live;
      // Nothing to draw and not drawing: no overlay at all, so a playing video is
      // composited alone (software compositing pays for every layer, every frame).
      if (empty && !d.tool) {
        if (!c.hidden) { c.hidden = true; this.drawnKey = ''; this.root.dataset.drawn = ''; }
        return;
      }
      if (c.hidden) c.hidden = false;
      const stage = c.parentElement;
      const w = Math.max(1, Math.round(stage.clientWidth * (window.devicePixelRatio || 1)));
      const h = Math.max(1, Math.round(stage.clientHeight * (window.devicePixelRatio || 1)));
      const key = JSON.stringify([w, h, shown.map(n => n.id), this.selected, d.shapes.length, d.live && d.live.points.length, d.live && d.live.points[1]]);
      if (key === this.drawnKey) return;
      this.drawnKey = key;
      if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
      const ctx = c.getContext('2d');
      ctx.clearRect(0, 0, w, h);
      for (const n of shown) for (const s of n.drawing) drawShape(ctx, s, w, h, n.id === this.selected);
      for (const s of d.shapes) drawShape(ctx, s, w, h, false);
      if (d.live) drawShape(ctx, d.live, w, h, false);
      this.root.dataset.drawn = shown.map(n => n.id).join(',');
    }
  }
  R.Player = Player;

  R.mountPlayer = function (element) {
    const root = element.querySelector('.rp');
    if (!root) return null;
    const key = root.dataset.key || 'run';
    const old = R.players[key];
    if (old && old.root === root && old.run === (root.dataset.runId || null) && old.video === root.querySelector('video.rp-video')) return old;
    if (old) old.stopShuttle(true);
    const p = new Player(root);
    R.players[key] = p;
    if (R.wake) R.wake();
    if (key === 'run') {
      R.setState({run: p.run});
      if (R.pendingNote !== null) R.selectNote(R.pendingNote, p, true);
    }
    return p;
  };

  // -- notes data (from the notes lists) ------------------------------------------------------
  R.readNotes = function (scope) {
    for (const el of (scope || document).querySelectorAll('.rv-notes-data')) {
      try { R.notes[el.dataset.run] = JSON.parse(el.dataset.notes || '[]'); } catch (e) { /* keep the last */ }
    }
    for (const p of Object.values(R.players)) p.drawnKey = '';
    if (R.pendingNote !== null && R.players.run) R.selectNote(R.pendingNote, R.players.run, true);
  };
  R.findNote = function (id) {
    for (const [run, list] of Object.entries(R.notes)) {
      const n = list.find(x => x.id === id);
      if (n) return [run, n];
    }
    return [null, null];
  };
  // Click a note (in a list or on a timeline): the player(s) showing its run land on its frame.
  R.selectNote = function (id, player, quiet) {
    const [run, note] = R.findNote(id);
    if (!note) { if (quiet) R.pendingNote = id; return; }
    const targets = Object.values(R.players).filter(p => p.run === run && p.root.isConnected);
    if (!targets.length) { R.pendingNote = id; return; }
    R.pendingNote = null;
    const groups = new Set();
    for (const p of targets) {
      p.selected = id; p.drawnKey = '';
      if (p.group) groups.add(p.group);
      p.seekFrame(note.frame, true);
    }
    for (const g of groups) g.seekBoth(note.frame);  // Compare: both players land on it
    for (const el of document.querySelectorAll('.rv-note')) el.classList.toggle('selected', parseInt(el.dataset.note, 10) === id);
    if (targets.some(p => p.key === 'run')) R.setState({note: id});
  };
  document.addEventListener('click', (ev) => {
    const seek = ev.target.closest('[data-seek-note]');
    if (seek && !ev.target.closest('button[data-action], textarea, input')) R.selectNote(parseInt(seek.dataset.seekNote, 10));
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.target.closest && ev.target.closest('textarea, input, select, .rp')) return;
    const p = R.active && R.active.root.isConnected ? R.active : null;
    if (p && ['ArrowLeft', 'ArrowRight', 'j', 'k', 'l'].includes(ev.key)) p.key_(ev);
  });

  // -- the composer: tools, colours, in/out, what a new note carries ---------------------------
  R.setIn = function (p) { p.draft.inFrame = p.frame(); if (p.draft.outFrame !== null && p.draft.outFrame < p.draft.inFrame) p.draft.outFrame = null; R.composerChanged(p); };
  R.setOut = function (p) {
    const f = p.frame();
    if (p.draft.inFrame === null || f < p.draft.inFrame) p.draft.inFrame = f;
    p.draft.outFrame = f; R.composerChanged(p);
  };
  R.composerChanged = function (p) {
    const el = document.querySelector('.rv-composer[data-key="' + p.key + '"]');
    if (!el) return;
    const d = p.draft;
    const range = el.querySelector('.rv-range');
    if (range) range.textContent = d.inFrame === null ? 'on the frame shown' :
      'frames ' + d.inFrame + (d.outFrame !== null && d.outFrame !== d.inFrame ? '-' + d.outFrame : '');
    const count = el.querySelector('.rv-shape-count');
    if (count) count.textContent = d.shapes.length ? d.shapes.length + ' shape(s) drawn' : 'nothing drawn';
    el.dataset.shapes = String(d.shapes.length);
  };
  R.composerState = function (key) {
    const p = R.players[key || 'run'];
    if (!p) return {run: null};
    const d = p.draft;
    const frame = d.inFrame !== null ? d.inFrame : p.frame();
    return {run: p.run, frame: frame, end_frame: d.outFrame !== null && d.outFrame !== frame ? d.outFrame : null,
            drawing: d.shapes.map(s => ({tool: s.tool, color: s.color, width: s.width, points: s.points}))};
  };
  R.mountComposer = function (element, trigger) {
    if (element.dataset.bound) return;
    element.dataset.bound = '1';
    element.addEventListener('click', (ev) => {
      const el = element.querySelector('.rv-composer');
      const key = el ? el.dataset.key : 'run';
      const p = R.players[key];
      const b = ev.target.closest('button'); if (!b || !p) return;
      if (b.dataset.tool !== undefined) {
        const tool = b.dataset.tool || null;
        p.setTool(p.draft.tool === tool ? null : tool);
        for (const t of element.querySelectorAll('[data-tool]')) t.classList.toggle('on', !!p.draft.tool && t.dataset.tool === p.draft.tool);
      } else if (b.dataset.color) {
        p.draft.color = b.dataset.color;
        for (const t of element.querySelectorAll('[data-color]')) t.classList.toggle('on', t.dataset.color === p.draft.color);
      } else if (b.dataset.do === 'undo') { p.draft.shapes.pop(); p.drawnKey = ''; R.composerChanged(p); }
      else if (b.dataset.do === 'clear') p.clearDraft();
      else if (b.dataset.do === 'in') R.setIn(p);
      else if (b.dataset.do === 'out') R.setOut(p);
      else if (b.dataset.do === 'add') {
        const text = element.querySelector('textarea.rv-text');
        trigger('select', Object.assign({action: 'add', text: text ? text.value : ''}, R.composerState(key)));
      }
    });
  };
  R.composerSaved = function (element) {
    const el = element.querySelector('.rv-composer');
    if (!el || !el.dataset.saved || el.dataset.saved === element.dataset.seenSaved) return;
    element.dataset.seenSaved = el.dataset.saved;
    const p = R.players[el.dataset.key || 'run'];
    if (p) { p.clearDraft(); p.setTool(null); }
    for (const t of element.querySelectorAll('[data-tool]')) t.classList.remove('on');
    const text = element.querySelector('textarea.rv-text');
    if (text) text.value = '';
  };
  // The notes list's own buttons (reply, resolve, re-generate, copy link).
  R.mountNotes = function (element, trigger) {
    if (!element.dataset.bound) {
      element.dataset.bound = '1';
      element.addEventListener('click', (ev) => {
        const b = ev.target.closest('button[data-action]'); if (!b) return;
        const note = parseInt(b.dataset.note, 10), action = b.dataset.action;
        if (action === 'reply-open') {
          const box = element.querySelector('.rv-reply[data-note="' + note + '"]');
          if (box) { box.hidden = !box.hidden; const t = box.querySelector('textarea'); if (t) t.focus(); }
          return;
        }
        if (action === 'copy-link') {
          const url = new URL(location.href);
          for (const k of ['a', 'b', 'tab']) url.searchParams.delete(k);
          url.searchParams.set('run', b.dataset.run); url.searchParams.set('note', String(note));
          if (navigator.clipboard) navigator.clipboard.writeText(url.toString()).catch(() => {});
          b.textContent = 'Link copied';
          return;
        }
        const box = element.querySelector('.rv-reply[data-note="' + note + '"] textarea');
        trigger('select', {action: action, note: note, text: box ? box.value : ''});
      });
    }
    R.readNotes(element);
  };

  // -- compare --------------------------------------------------------------------------------
  function layerTime(p) {
    const l = p.root.querySelector('video.rp-layer.on');
    return l ? l.currentTime.toFixed(4) + (l.seeking ? 's' : '') + l.readyState : '';
  }
  class Compare {
    constructor(root) {
      this.root = root;
      this.a = R.players.a; this.b = R.players.b;
      this.canvas = root.querySelector('canvas.cp-canvas');
      this.mode = 'side'; this.wipe = 0.5; this.opacity = 0.5; this.gain = 1; this.rate = 4;
      this.showing = 'a'; this.lastFlip = 0; this.dirty = true; this.dragging = false;
      for (const p of [this.a, this.b]) if (p) p.group = this;
      this.bind();
      this.readControls();
    }
    get sync() { const s = this.root.querySelector('.cp-sync'); return !s || s.checked; }
    other(p) { return p === this.a ? this.b : this.a; }
    follow(p, what, arg) {
      this.dirty = true;
      if (!this.sync) return;
      const o = this.other(p); if (!o) return;
      if (what === 'seek') o.seekFrame(arg, true);
      else if (what === 'step') o.step(arg, true);
      else if (what === 'play') o.play(true);
      else if (what === 'pause') o.pause(true);
      else if (what === 'jkl') o.jkl(arg, true);
    }
    seekBoth(frame) { for (const p of [this.a, this.b]) if (p) p.seekFrame(frame, true); this.dirty = true; }
    bind() {
      const root = this.root;
      root.addEventListener('click', (ev) => {
        const m = ev.target.closest('[data-mode]');
        if (m) this.setMode(m.dataset.mode);
        if (ev.target.closest('.cmp-play')) {
          const go = !(this.a && this.a.playing()) && !(this.b && this.b.playing());
          for (const p of [this.a, this.b]) if (p) (go ? p.play(true) : p.pause(true));
        }
        const stage = ev.target.closest('.cp-view');
        if (stage && !this.dragging && this.mode !== 'wipe') this.root.querySelector('.cmp-play').click();
      });
      root.addEventListener('input', (ev) => {
        const t = ev.target;
        if (t.classList.contains('cmp-seek')) {
          const p = this.longest(); if (!p) return;
          const time = t.value / 1000 * (p.video.duration || 0);
          for (const q of [this.a, this.b]) if (q) { q.pause(true); q.video.currentTime = Math.min(time, Math.max(0, (q.video.duration || 0) - 0.001)); }
          this.seeking = true;
        }
        this.readControls();
      });
      root.addEventListener('change', (ev) => { if (ev.target.classList.contains('cmp-seek')) this.seeking = false; this.readControls(); });
      const view = root.querySelector('.cp-view');
      if (view) {
        const move = (ev) => {
          const r = view.getBoundingClientRect();
          this.setWipe(clamp((ev.clientX - r.left) / r.width, 0, 1));
        };
        view.addEventListener('pointerdown', (ev) => {
          if (this.mode !== 'wipe') return;
          this.dragging = true; view.setPointerCapture(ev.pointerId); move(ev);
        });
        view.addEventListener('pointermove', (ev) => { if (this.dragging) move(ev); });
        view.addEventListener('pointerup', () => { setTimeout(() => this.dragging = false, 0); });
      }
    }
    longest() {
      const ps = [this.a, this.b].filter(p => p && p.video);
      return ps.reduce((m, p) => (!m || (p.video.duration || 0) > (m.video.duration || 0)) ? p : m, null);
    }
    setWipe(x) {
      this.wipe = x;
      const s = this.root.querySelector('.cp-wipe'); if (s) s.value = String(Math.round(x * 1000) / 10);
      this.dirty = true;
    }
    readControls() {
      const val = (sel, d) => { const el = this.root.querySelector(sel); return el ? parseFloat(el.value) : d; };
      this.wipe = clamp(val('.cp-wipe', 50) / 100, 0, 1);
      this.opacity = clamp(val('.cp-opacity', 50) / 100, 0, 1);
      this.gain = clamp(val('.cp-gain', 1), 1, 50);
      this.rate = clamp(val('.cp-rate', 4), 1, 30);
      this.dirty = true;
    }
    setMode(mode) {
      this.mode = mode; this.root.dataset.mode = mode;
      for (const b of this.root.querySelectorAll('[data-mode]')) b.classList.toggle('on', b.dataset.mode === mode);
      this.dirty = true;
    }
    tick(now) {
      const root = this.root;
      if (!root.isConnected || !this.a || !this.b) return;
      const lead = this.longest();
      // keep the other in step while playing together
      if (this.sync && lead) {
        const o = this.other(lead);
        if (!lead.video.paused && o.video) {
          const target = Math.min(lead.video.currentTime, Math.max(0, (o.video.duration || 0) - 0.001));
          if (Math.abs(o.video.currentTime - target) > 0.08) o.video.currentTime = target;
          if (o.video.paused && lead.video.currentTime < (o.video.duration || 0)) { o.video.muted = true; o.video.play().catch(() => {}); }
        }
        if (lead.video.ended) {
          const loop = root.querySelector('.cmp-loop');
          if (loop && loop.checked) for (const p of [this.a, this.b]) { p.video.currentTime = 0; p.video.play().catch(() => {}); }
        }
      }
      if (lead && lead.video) {
        const d = lead.video.duration || 0, t = lead.video.currentTime;
        const seek = root.querySelector('.cmp-seek');
        if (seek && !this.seeking && d) seek.value = String(Math.round(t / d * 1000));
        const label = root.querySelector('.cmp-time');
        if (label) label.textContent = t.toFixed(2) + ' / ' + d.toFixed(2) + ' s';
        root.dataset.time = t.toFixed(2);
      }
      const play = root.querySelector('.cmp-play');
      if (play) { const txt = (this.a.playing() || this.b.playing()) ? 'Pause both' : 'Play both'; if (play.textContent !== txt) play.textContent = txt; }
      if (this.mode === 'flicker' && now - this.lastFlip >= 1000 / this.rate) {
        this.showing = this.showing === 'a' ? 'b' : 'a'; this.lastFlip = now; this.dirty = true;
      }
      if (this.mode !== 'side') this.composite();
    }
    // Wipe, overlay, difference and flicker draw both videos into one canvas, at A's size.
    composite() {
      const c = this.canvas, A = this.a.video, B = this.b.video;
      if (!c || !A || !B || A.readyState < 2 || B.readyState < 2) return;
      const w = A.videoWidth, h = A.videoHeight;
      if (!w || !h) return;
      const key = [this.mode, A.currentTime, B.currentTime, this.a.mediaFrame, this.b.mediaFrame,
                   A.seeking, B.seeking, this.wipe, this.opacity, this.gain, this.showing,
                   this.a.root.dataset.layer, this.b.root.dataset.layer, this.a.layerOpacity(), this.b.layerOpacity(),
                   layerTime(this.a), layerTime(this.b)].join('|');
      if (key === this.key && !this.dirty && A.paused && B.paused) return;
      this.key = key; this.dirty = false;
      if (c.width !== w || c.height !== h) { c.width = w; c.height = h; }
      const ctx = c.getContext('2d', {willReadFrequently: this.mode === 'difference'});
      ctx.save();
      ctx.globalAlpha = 1; ctx.globalCompositeOperation = 'source-over';
      const side = (p, video) => {
        ctx.drawImage(video, 0, 0, w, h);
        const layer = p.root.querySelector('video.rp-layer.on');
        if (layer && layer.readyState >= 2) { ctx.globalAlpha = p.layerOpacity(); ctx.drawImage(layer, 0, 0, w, h); ctx.globalAlpha = 1; }
      };
      if (this.mode === 'wipe') {
        side(this.a, A);
        const x = Math.round(w * this.wipe);
        ctx.beginPath(); ctx.rect(x, 0, w - x, h); ctx.clip();
        side(this.b, B);
      } else if (this.mode === 'overlay') {
        side(this.a, A);
        ctx.globalAlpha = this.opacity; ctx.drawImage(B, 0, 0, w, h);
      } else if (this.mode === 'difference') {
        side(this.a, A);
        ctx.globalCompositeOperation = 'difference';
        ctx.drawImage(B, 0, 0, w, h);
        if (this.gain !== 1) {
          const img = ctx.getImageData(0, 0, w, h), px = img.data, g = this.gain;
          for (let i = 0; i < px.length; i += 4) { px[i] = px[i] * g; px[i + 1] = px[i + 1] * g; px[i + 2] = px[i + 2] * g; }
          ctx.putImageData(img, 0, 0);
        }
      } else if (this.mode === 'flicker') {
        if (this.showing === 'a') side(this.a, A); else side(this.b, B);
      }
      ctx.restore();
      // each side's note drawings at its own frame
      const draw = (p, clipLeft, clipRight) => {
        ctx.save(); ctx.beginPath(); ctx.rect(clipLeft, 0, clipRight - clipLeft, h); ctx.clip();
        for (const n of notesAt(p.notes, p.frame())) for (const s of n.drawing) drawShape(ctx, s, w, h, n.id === p.selected);
        ctx.restore();
      };
      if (this.mode === 'wipe') { const x = Math.round(w * this.wipe); draw(this.a, 0, x); draw(this.b, x, w); }
      else if (this.mode === 'flicker') draw(this.showing === 'a' ? this.a : this.b, 0, w);
      else if (this.mode === 'overlay') { draw(this.a, 0, w); draw(this.b, 0, w); }
      const div = this.root.querySelector('.cp-divider');
      if (div) div.style.left = (this.wipe * 100) + '%';
      this.root.dataset.showing = this.showing;
      this.root.dataset.drawnAt = A.currentTime.toFixed(4) + ',' + B.currentTime.toFixed(4);
      this.draws = (this.draws || 0) + 1;
      this.root.dataset.draws = String(this.draws);
    }
  }
  R.Compare = Compare;
  R.mountCompare = function (element) {
    const root = element.querySelector('.cp');
    if (!root) { R.compare = null; return; }
    for (const key of ['a', 'b']) {
      const el = root.querySelector('.rp[data-key="' + key + '"]');
      if (el) R.mountPlayer({querySelector: () => el});
    }
    if (R.compare && R.compare.root === root && R.compare.a === R.players.a && R.compare.b === R.players.b) return;
    R.compare = new Compare(root);
    if (R.wake) R.wake();
    R.setState({a: root.dataset.a || null, b: root.dataset.b || null});
    const mode = root.dataset.startMode; if (mode) R.compare.setMode(mode);
  };

  // -- one animation loop for every player and the compare ------------------------------------
  // It runs only while a player or the compare is on screen: a loop that ran for as long as
  // the page was open woke the tab 60 times a second on every tab of the app (~6% of a core
  // per open page, measured in Chromium on the idle Create tab). Whatever can bring a player
  // back on screen wakes it: a player or compare mounting, a click or key (a tab switch, a
  // transport button), a video starting, seeking or loading.
  const onScreen = (el) => el && el.isConnected && el.getClientRects().length > 0;
  let looping = false, awakeUntil = 0;  // a wake keeps it going a second (a tab shows late)
  function loop(now) {
    const players = Object.values(R.players);
    const shown = players.some(p => onScreen(p.root)) || (R.compare && onScreen(R.compare.root));
    if (R.stopped || (!shown && performance.now() > awakeUntil)) {
      looping = false;
      return;
    }
    for (const p of players) { try { p.tick(); } catch (e) { console.error(e); } }
    if (R.compare) { try { R.compare.tick(now); } catch (e) { console.error(e); } }
    requestAnimationFrame(loop);
  }
  R.wake = function () {
    awakeUntil = performance.now() + 1000;
    if (looping || R.stopped) return;
    looping = true;
    requestAnimationFrame(loop);
  };
  for (const type of ['pointerdown', 'keydown', 'play', 'seeked', 'loadeddata']) {
    document.addEventListener(type, () => R.wake(), true);
  }
  R.wake();

  // -- clocks that move by themselves (components/run_details.py live_clock) ------------------
  // The server renders the seconds at the time it sent them; from then on the page counts.
  const clockBase = new WeakMap();
  function duration(seconds) {
    seconds = Math.round(seconds);
    if (seconds < 60) return seconds + ' s';
    let minutes = Math.floor(seconds / 60);
    const sec = seconds % 60;
    if (minutes < 60) return minutes + ' min ' + String(sec).padStart(2, '0') + ' s';
    const hours = Math.floor(minutes / 60); minutes = minutes % 60;
    return hours + ' h ' + String(minutes).padStart(2, '0') + ' min';
  }
  setInterval(() => {
    const now = performance.now();
    for (const el of document.querySelectorAll('.live-clock')) {
      if (!clockBase.has(el)) clockBase.set(el, now);
      const text = duration(parseFloat(el.dataset.seconds || '0') + (now - clockBase.get(el)) / 1000);
      if (el.textContent !== text) el.textContent = text;
    }
  }, 1000);

  // -- the address bar: every run, comparison and note has a URL ------------------------------
  function currentTab() {
    const b = document.querySelector('#main-tabs [role=tab][aria-selected=true]');
    return b ? (b.dataset.tabId || b.id.replace(/^tab-/, '').replace(/-button$/, '')) : null;
  }
  function urlFor(s) {
    const q = new URLSearchParams();
    const review = new URLSearchParams(location.search).get('review');
    if (review) q.set('review', review);
    if (s.tab === 'compare' && s.a && s.b) { q.set('a', s.a); q.set('b', s.b); }
    else if (s.tab === 'runs' && s.run) { q.set('run', s.run); if (s.note) q.set('note', String(s.note)); }
    else if (s.tab) q.set('tab', s.tab);
    const text = q.toString();
    return location.pathname + (text ? '?' + text : '');
  }
  // The address bar follows after the page has drawn the change: history.pushState blocks
  // the main thread until the browser process has the entry (20-50 ms measured on 2 loaded
  // cores), which stood between a click on Run and the run view's first frame. Changes made
  // in one burst (tab, then run) become one entry, the state they end in.
  let pushing = false;
  function pushNow() {
    if (!pushing) return;
    pushing = false;
    if (!R.ready) return;  // Back was pressed meanwhile: the URL is already right
    const next = urlFor(R.state);
    if (next !== location.pathname + location.search) history.pushState(Object.assign({}, R.state), '', next);
  }
  R.setState = function (patch) {
    if (patch.run !== undefined && patch.run !== R.state.run) R.state.note = null;
    Object.assign(R.state, patch);
    R.state.tab = currentTab() || R.state.tab;
    if (!R.ready || pushing) return;
    pushing = true;
    requestAnimationFrame(() => setTimeout(pushNow, 0));
    setTimeout(pushNow, 200);  // a hidden tab draws no frames
  };
  // While the server moves the page to what its URL says (the first seconds, or after Back),
  // changes do not push entries. What the person does in that window must not be lost: a tab
  // clicked 1 s after load pushed nothing and the settle then *replaced* the loaded entry, so
  // Back skipped it (a quiet machine's fast click, seen in the e2e suite). So clicks and keys
  // in the window are remembered, and the settle pushes instead of replacing.
  function settle(first) {
    R.ready = true;
    R.state.tab = currentTab() || R.state.tab;
    const s = urlFor(R.state);
    const moved = R.userMoved;
    R.userMoved = false;
    if (s === location.pathname + location.search || !R.state.tab) return;
    if (moved) history.pushState(Object.assign({}, R.state), '', s);
    else if (first) history.replaceState(Object.assign({}, R.state), '', s);
  }
  R.mountRouter = function (element, trigger) {
    R.routerTrigger = trigger;
    R.userMoved = false;
    const q = new URLSearchParams(location.search);
    if (q.get('note')) R.pendingNote = parseInt(q.get('note'), 10);
    const noteUser = (ev) => { if (!R.ready && ev.isTrusted) R.userMoved = true; };
    document.addEventListener('pointerdown', noteUser, true);
    document.addEventListener('keydown', noteUser, true);
    window.addEventListener('popstate', () => {
      const qs = new URLSearchParams(location.search);
      if (qs.get('note')) R.pendingNote = parseInt(qs.get('note'), 10);
      R.ready = false;  // the server moves the page; the URL is already right
      R.userMoved = false;
      trigger('select', {search: location.search});
      setTimeout(() => settle(false), 1500);
    });
    // the page's first state is what its URL says; later changes push new entries
    setTimeout(() => {
      const tabs = document.querySelector('#main-tabs');
      if (tabs) new MutationObserver(() => {
        const t = currentTab();
        if (t && t !== R.state.tab) R.setState({tab: t});
      }).observe(tabs, {subtree: true, attributes: true, attributeFilter: ['aria-selected']});
      settle(true);
    }, 2500);
  };
})();
