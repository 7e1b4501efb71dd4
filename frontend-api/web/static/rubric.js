// Rubric import: a file input marked data-fills="<textarea id>" reads the
// chosen JSON file into that textarea, after checking that it parses.
for (const input of document.querySelectorAll('input[type=file][data-fills]')) {
  input.addEventListener('change', async () => {
    const target = document.getElementById(input.dataset.fills);
    const file = input.files[0];
    if (!file || !target) return;
    const text = await file.text();
    try {
      target.value = JSON.stringify(JSON.parse(text), null, 2);
      target.setCustomValidity('');
    } catch (err) {
      target.value = text;
      target.setCustomValidity(`This file is not valid JSON: ${err.message}`);
      target.reportValidity();
    }
  });
}
