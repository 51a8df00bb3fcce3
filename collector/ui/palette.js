// palette.js
