// format.js
