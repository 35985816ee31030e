;;; e2e.el --- Emacs + eglot (Debian) as a plain LSP client of minion  -*- lexical-binding: t -*-

;; Run by tests/editors/test_emacs.py in the temp repo:
;;   emacs --batch -Q -l e2e.el
;; eglot 1.9 advertises neither work-done progress nor window/showDocument, and knows
;; nothing of minion: it hands off the TODO with the plain code action, waits for the
;; diagnostics through flymake, and applies the quick fix from the code-action menu.
;; It writes what it saw to $MINION_E2E_OUT (JSON) and exits non-zero on any failure.
;; Environment: MINION_E2E_PYTHON, MINION_E2E_MODEL, MINION_E2E_OUT.

(require 'package)
(add-to-list 'package-directory-list "/usr/share/emacs/site-lisp/elpa")  ; Debian's elpa-eglot
(package-initialize)
(require 'eglot)
(require 'flymake)
(require 'json)
(require 'seq)

(defconst e2e-run-timeout 120)

(add-to-list 'eglot-server-programs
             `(python-mode . (,(getenv "MINION_E2E_PYTHON") "-m" "minion.cli" "serve"
                              :initializationOptions (:settings (:model ,(getenv "MINION_E2E_MODEL"))))))

(defun e2e-choose (prompt collection &rest _)
  "The user's pick in a menu: apply minion's change, and dismiss the end-of-run message."
  (let ((titles (mapcar (lambda (item) (if (consp item) (car item) item)) collection)))
    (or (seq-find (lambda (title) (string-prefix-p "Apply this change" title)) titles)
        (car (member "Dismiss" titles))
        (error "Unexpected menu %S: %S" prompt titles))))
(advice-add 'completing-read :override #'e2e-choose)

(defun e2e-wait (what predicate timeout)
  "Let Emacs take the server's messages until PREDICATE returns non-nil; return it."
  (let ((deadline (+ (float-time) timeout)) value)
    (while (not (setq value (funcall predicate)))
      (when (> (float-time) deadline)
        (error "Timed out waiting for %s" what))
      (accept-process-output nil 0.1))
    value))

(defun e2e-minion-diagnostics ()
  "minion's diagnostics in the buffer, as (LINE CODE TEXT)."
  (flymake-start)  ; batch Emacs runs no command loop to start flymake
  (cl-loop for diagnostic in (flymake-diagnostics)
           for lsp = (cdr (assoc 'eglot-lsp-diag (eglot--diag-data diagnostic)))
           when (equal (plist-get lsp :source) "minion")
           collect (list (line-number-at-pos (flymake-diagnostic-beg diagnostic))
                         (plist-get lsp :code)
                         (flymake-diagnostic-text diagnostic))))

(defun e2e-quickfix ()
  "M-x eglot-code-action-quickfix, as typed: with the keyboard, menus use completing-read."
  (let ((last-nonmenu-event ?\r))
    (eglot-code-actions (point) nil "quickfix" t)))

(defun e2e-goto-line (line)
  (goto-char (point-min))
  (forward-line (1- line)))

(defun e2e-main ()
  (find-file "calc/ops.py")
  (apply #'eglot (eglot--guess-contact))
  (e2e-wait "the server" (lambda () (eglot-current-server)) 30)
  ;; The TODO's hand-off is the only quick fix on its line, so eglot runs it without a menu.
  (e2e-goto-line 6)
  (e2e-quickfix)
  (let* ((found (e2e-wait "minion's diagnostics" #'e2e-minion-diagnostics e2e-run-timeout))
         (before (buffer-string)))
    (e2e-goto-line (car (car found)))
    (e2e-quickfix)
    (e2e-wait "the fix to apply" (lambda () (not (equal (buffer-string) before))) 30)
    `((diagnostics . ,(mapcar (lambda (d) `((line . ,(nth 0 d)) (code . ,(nth 1 d)) (text . ,(nth 2 d)))) found))
      (text . ,(buffer-substring-no-properties (point-min) (point-max))))))

(condition-case err
    (let ((result (e2e-main)))
      (with-temp-file (getenv "MINION_E2E_OUT")
        (insert (json-encode result)))
      (set-buffer-modified-p nil)  ; leave without saving, and without a question
      (kill-emacs 0))
  (error
   (message "e2e: FAILED: %S" err)
   (kill-emacs 1)))
