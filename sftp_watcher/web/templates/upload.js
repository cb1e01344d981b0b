// Drag and drop onto the "Call list" field, and a progress bar while the file goes up.
// The form works without this script: it only adds to the plain file input.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  var zone = document.getElementById("drop-zone");
  var input = document.getElementById("call_list");
  var chosen = document.getElementById("chosen");
  var progress = document.getElementById("progress");
  if (!form || !zone || !input || !window.FormData || !window.XMLHttpRequest) return;

  function show() {
    chosen.textContent = input.files.length ? "Chosen: " + input.files[0].name : "";
  }
  input.addEventListener("change", show);
  ["dragenter", "dragover"].forEach(function (type) {
    zone.addEventListener(type, function (event) {
      event.preventDefault();
      zone.classList.add("over");
    });
  });
  zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;  // a drop equals choosing the file
      show();
    }
  });
  form.addEventListener("submit", function (event) {
    if (!input.files.length) return;
    event.preventDefault();
    // Said before sending: the server refuses a larger body without reading it.
    if (input.files[0].size > Number(form.dataset.limit)) {
      chosen.textContent = "This file is larger than the limit of " + form.dataset.limitText + ".";
      return;
    }
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    progress.hidden = false;
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) progress.value = Math.round((100 * e.loaded) / e.total);
    });
    xhr.addEventListener("load", function () {
      if (xhr.status === 200 && xhr.responseURL && xhr.responseURL !== form.action) {
        window.location.assign(xhr.responseURL);
      } else {
        document.open();
        document.write(xhr.responseText);
        document.close();
      }
    });
    xhr.addEventListener("error", function () { form.submit(); });
    xhr.send(new FormData(form));
  });
})();
