// Submissions upload: drag and drop (or choose) files or a ZIP; the files
// go to POST /api/v1/assignments/{id}/submissions with XMLHttpRequest so
// that a progress bar can follow the upload, and each file's outcome is
// listed when the server answers; the submissions list below is then
// drawn again.
import { csrfToken, errorLines } from './csrf.js';

const form = document.getElementById('upload');
if (form) {
  const input = document.getElementById('files');
  const bar = document.getElementById('upload-progress');
  const pct = document.getElementById('upload-percent');
  const list = document.getElementById('upload-outcomes');

  const show = (p) => { bar.value = p; bar.textContent = `${p}%`; pct.textContent = `${p}%`; };
  const line = (text, cls) => { const li = document.createElement('li'); li.textContent = text; if (cls) li.className = cls; list.append(li); };

  // refreshList draws the submissions list again as the server has it
  // now, so that it never says "No submissions yet" under the files just
  // uploaded.
  async function refreshList() {
    try {
      const r = await fetch(window.location.pathname, { credentials: 'same-origin' });
      if (!r.ok) return;
      const fresh = new DOMParser().parseFromString(await r.text(), 'text/html').getElementById('submissions-list');
      const now = document.getElementById('submissions-list');
      if (fresh && now) now.replaceWith(document.adoptNode(fresh));
    } catch { /* the list stays as it was; a reload shows it */ }
  }

  function send(files) {
    if (!files.length) { line('Choose at least one file.', 'rejected'); return; }
    const fd = new FormData();
    for (const f of files) fd.append('files', f, f.name);
    list.replaceChildren();
    form.dataset.state = 'uploading';
    show(0);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/v1/assignments/${encodeURIComponent(form.dataset.assignment)}/submissions`);
    xhr.setRequestHeader('X-CSRF-Token', csrfToken());
    xhr.upload.addEventListener('progress', (e) => { if (e.lengthComputable) show(Math.round((100 * e.loaded) / e.total)); });
    xhr.addEventListener('load', () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) {
        show(100);
        for (const o of data.outcomes || []) {
          const who = o.student_id ? ` — student ${o.student_id}${o.pseudonym ? ` (${o.pseudonym})` : ''}` : '';
          const why = o.error ? `: ${o.error.message}` : '';
          const warn = o.flag ? ` — held back: ${o.flag.message}` : '';
          line(`${o.file}: ${o.status.replace('_', ' ')}${who}${why}${warn}`, o.flag ? 'flagged' : o.status);
        }
        line(`Upload finished: ${data.counts.files} files${data.counts.flagged ? `, ${data.counts.flagged} held back for you to check` : ''}.`, 'done');
        refreshList().finally(() => { form.dataset.state = 'done'; });
      } else {
        for (const m of errorLines(data)) line(m, 'rejected');
        form.dataset.state = 'failed';
      }
    });
    xhr.addEventListener('error', () => { line('The upload failed: check your connection and try again.', 'rejected'); form.dataset.state = 'failed'; });
    xhr.send(fd);
  }

  form.addEventListener('submit', (e) => { e.preventDefault(); send([...input.files]); });
  for (const ev of ['dragenter', 'dragover']) form.addEventListener(ev, (e) => { e.preventDefault(); form.classList.add('over'); });
  for (const ev of ['dragleave', 'drop']) form.addEventListener(ev, () => form.classList.remove('over'));
  form.addEventListener('drop', (e) => { e.preventDefault(); send([...e.dataTransfer.files]); });
}
